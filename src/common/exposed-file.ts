/**
 * Files that hold the database password must be readable by the daemon and
 * nobody else: a mode that lets other users read them is worth a warning that
 * names the file and says what to do. Readable by the file's group is fine when
 * that group is the daemon's own (the systemd unit's saslauthd-mysql group).
 */
import { statSync } from 'node:fs';

export function exposedSecretWarning(file: string, holds: string): string | undefined {
  let mode: number;
  let gid: number;
  try {
    ({ mode, gid } = statSync(file));
  } catch {
    // Reading it failed or will fail with its own message.
    return undefined;
  }
  const worldReadable = (mode & 0o004) !== 0;
  const groupReadable = (mode & 0o040) !== 0 && gid !== process.getegid?.();
  if (!worldReadable && !groupReadable) return undefined;
  const who = worldReadable ? 'every user on this host' : `the members of group ${gid}`;
  return `${file} holds ${holds} and is readable by ${who} (mode 0${(mode & 0o777).toString(8)}): chmod 600 it (or 640 with the daemon's group), or move the password to a file only the daemon can read`;
}
