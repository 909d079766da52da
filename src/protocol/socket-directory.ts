/**
 * Making a socket directory the daemon's, before it starts: run as root from
 * the unit's `ExecStartPre=+`, outside the sandbox, so that the documented
 * switch from saslauthd works on a Debian host as it is.
 *
 * Debian's sasl2-bin keeps its socket directory root:sasl 0710 (a
 * dpkg-statoverride the administrator made for the chroot, re-applied by its
 * init script at every start): saslauthd, as root, writes there; our daemon's
 * own user cannot. Such a directory, holding nothing but saslauthd's own files,
 * is handed to the daemon's user, keeping its group and its mode, so Postfix
 * (group sasl) reaches the socket as before. Nothing is fought over with dpkg:
 * the override names a directory no package ships, and saslauthd, started
 * again on a rollback, works in it either way (its init script even puts the
 * owner back). Any other directory is left as it is, and the daemon's own
 * start-up check explains what is wrong with it.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** What saslauthd and this daemon keep in a socket directory: nothing else is there in one made for them. */
const SOCKET_DIRECTORY_FILES = new Set(['mux', 'mux.accept', 'saslauthd.pid', 'cache.mmap', 'cache.flock', 'auth']);

export interface DirectoryOwner {
  readonly uid: number;
  /** The group that reaches the socket (sasl); it may search the directory, and nothing more. */
  readonly gid?: number;
}

export type Preparation =
  | { readonly dir: string; readonly action: 'created' | 'taken over' | 'kept' }
  | { readonly dir: string; readonly action: 'left'; readonly why: string };

/** What preparing `dir` would do, changing nothing (for "check"). */
export function planSocketDirectory(dir: string, owner: DirectoryOwner): Preparation {
  let stats;
  try {
    stats = lstatSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return { dir, action: 'created' };
  }
  if (!stats.isDirectory()) return { dir, action: 'left', why: `${dir} is ${stats.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}` };
  if (stats.uid === owner.uid) return { dir, action: 'kept' };
  if (stats.uid !== 0) return { dir, action: 'left', why: `${dir} belongs to user ${stats.uid}, neither root nor the daemon's user` };
  const others = readdirSync(dir).filter((name) => !SOCKET_DIRECTORY_FILES.has(name) && !name.startsWith('.check-'));
  if (others.length > 0) {
    return { dir, action: 'left', why: `${dir} belongs to root and holds more than a socket directory does (${others.slice(0, 3).join(', ')}${others.length > 3 ? ', ...' : ''}); give the daemon a directory of its own` };
  }
  if ((stats.mode & 0o022) !== 0) return { dir, action: 'left', why: `${dir} is writable by others than root (mode 0${(stats.mode & 0o7777).toString(8)})` };
  return { dir, action: 'taken over' };
}

/** Makes `dir` a directory the owner can create its socket in, when that is safe; says what it did. */
export function prepareSocketDirectory(dir: string, owner: DirectoryOwner): Preparation {
  const plan = planSocketDirectory(dir, owner);
  if (plan.action === 'created') {
    // The directories above are only passed through; the socket's own is private to the owner and the group.
    mkdirSync(path.dirname(dir), { recursive: true, mode: 0o755 });
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, owner.uid, owner.gid ?? -1);
    chmodSync(dir, owner.gid === undefined ? 0o750 : 0o710);
  } else if (plan.action === 'taken over') {
    chownSync(dir, owner.uid, -1);
  }
  return plan;
}
