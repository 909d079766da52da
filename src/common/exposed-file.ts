/**
 * Files that hold the database password must be readable by the daemon and
 * nobody else: a mode that lets other users read them is worth a warning that
 * names the file and says what to do. Readable by the file's group is fine when
 * that group is the daemon's own (the systemd unit's saslauthd-mysql group).
 */
import { statSync } from 'node:fs';

/** The account that must read the secrets, when it is not this process ("check" run as root for the service). */
export interface SecretReader {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

let reader: SecretReader | undefined;

/** From now on, judge secret files for this account instead of this process. */
export function judgeSecretsFor(account: SecretReader | undefined): void {
  reader = account;
}

export function exposedSecretWarning(file: string, holds: string): string | undefined {
  let mode: number;
  let gid: number;
  let uid: number;
  try {
    ({ mode, gid, uid } = statSync(file));
  } catch {
    // Reading it failed or will fail with its own message.
    return undefined;
  }
  if (reader) {
    const readable = (uid === reader.uid && (mode & 0o400) !== 0) || (gid === reader.gid && (mode & 0o040) !== 0) || (mode & 0o004) !== 0;
    if (!readable) return `${file} holds ${holds} and ${reader.name}, the daemon's user, cannot read it (owner ${uid}:${gid}, mode 0${(mode & 0o777).toString(8)}): chgrp ${reader.name} ${file} && chmod 0640 ${file}`;
  }
  const worldReadable = (mode & 0o004) !== 0;
  const groupReadable = (mode & 0o040) !== 0 && gid !== (reader?.gid ?? process.getegid?.());
  if (!worldReadable && !groupReadable) return undefined;
  const who = worldReadable ? 'every user on this host' : `the members of group ${gid}`;
  return `${file} holds ${holds} and is readable by ${who} (mode 0${(mode & 0o777).toString(8)}): chmod 0640 it with the daemon's group (chgrp saslauthd-mysql), or 0600 when the daemon's user owns it, or move the password to a file only the daemon can read`;
}
