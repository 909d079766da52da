/**
 * The socket file's life: claim the path (refusing when another daemon
 * answers there, replacing a stale file left by a crash), set its mode and
 * group, and remove it on the way out, but only if it is still ours.
 *
 * Whoever can write the socket's directory can put their own socket in its
 * place and read every password the MTA sends. So the directory must belong
 * to root or to the daemon's user and be writable by nobody else; one the
 * daemon creates is 0710 (0750 when it has no group to give), with the socket
 * group when one is configured, as Debian's saslauthd directory is.
 */
import { accessSync, chmodSync, constants, lchownSync, lstatSync, mkdirSync, rmSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import { DaemonError, ErrorCodes, SocketInUseError } from '../errors.js';

/** How long to wait for a daemon that may be answering on an existing socket. */
const PROBE_TIMEOUT_MS = 1000;

type ProbeOutcome = 'live' | 'stale' | 'gone';

function probeSocket(socketPath: string): Promise<ProbeOutcome> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: socketPath });
    const timer = setTimeout(() => {
      socket.destroy();
      // Something holds the socket but does not accept: treat as live rather than steal it.
      resolve('live');
    }, PROBE_TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('live');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ECONNREFUSED') resolve('stale');
      else if (error.code === 'ENOENT') resolve('gone');
      else reject(new DaemonError(ErrorCodes.SOCKET_PATH, `cannot check existing socket ${socketPath}: ${error.code ?? error.message}`));
    });
  });
}

/** Why this directory is unsafe for the socket, or undefined when only root and the daemon's user can change it. */
export function unsafeRunDirectory(dir: string): string | undefined {
  const stats = lstatSync(dir);
  if (stats.isSymbolicLink()) return `${dir} is a symbolic link; give the real directory with -m`;
  if (!stats.isDirectory()) return `${dir} is not a directory`;
  const euid = process.geteuid?.() ?? 0;
  if (stats.uid !== 0 && stats.uid !== euid) return `${dir} belongs to user ${stats.uid}, who could replace the socket; it must belong to root or to the daemon's user (chown root ${dir})`;
  if ((stats.mode & 0o022) !== 0) return `${dir} is writable by ${stats.mode & 0o002 ? 'every user' : 'its group'} (mode 0${(stats.mode & 0o7777).toString(8)}), who could replace the socket; chmod go-w ${dir}, or let the daemon create a directory of its own`;
  return undefined;
}

/** Returns 'replaced-stale' when a crash left a socket behind and we removed it. */
export async function claimSocketPath(socketPath: string, gid?: number): Promise<'free' | 'replaced-stale'> {
  const dir = path.dirname(socketPath);
  try {
    // The directories above it are only passed through: searchable as usual. The socket's own is private.
    mkdirSync(path.dirname(dir), { recursive: true, mode: 0o755 });
    const created = mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (created !== undefined) {
      // The group that may reach the socket gets to search the directory, and nothing more.
      if (gid !== undefined) lchownSync(dir, -1, gid);
      chmodSync(dir, gid !== undefined ? 0o710 : 0o750);
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      const user = runningAs();
      throw new DaemonError(ErrorCodes.SOCKET_PERMISSION, `cannot create the socket directory ${dir}: ${user} may not write ${path.dirname(dir)}. Create it for the daemon: install -d -o ${user} -g sasl -m 0710 ${dir}`);
    }
    throw new DaemonError(ErrorCodes.SOCKET_PATH, `cannot create socket directory ${dir}: ${code}`);
  }
  const unsafe = unsafeRunDirectory(dir);
  if (unsafe) throw new DaemonError(ErrorCodes.SOCKET_PATH, `refusing the socket directory: ${unsafe}`);
  const state = await socketPathState(socketPath);
  if (state === 'absent') return 'free';
  if (state === 'not a socket') {
    throw new DaemonError(ErrorCodes.SOCKET_PATH, `${socketPath} exists and is not a socket; refusing to replace it`);
  }
  if (state === 'live') throw new SocketInUseError(socketPath);
  try {
    unlinkSync(socketPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new DaemonError(ErrorCodes.SOCKET_PATH, `cannot remove stale socket ${socketPath}: ${(error as NodeJS.ErrnoException).code}`);
    }
  }
  return 'replaced-stale';
}

/** Who the process runs as, for messages that must say which user lacks a permission. */
export function runningAs(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/**
 * What a failed bind means and what to do about it. EACCES is the usual one:
 * a directory made for saslauthd (root:sasl 0710) that the daemon's own user
 * may not write.
 */
export function listenError(socketPath: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  const dir = path.dirname(socketPath);
  if (code === 'EACCES' || code === 'EPERM') {
    const user = runningAs();
    return new DaemonError(
      ErrorCodes.SOCKET_PERMISSION,
      `cannot create the socket ${socketPath}: ${user} may not write ${dir}. Give the directory to the daemon's user, with the socket's group: install -d -o ${user} -g sasl -m 0710 ${dir} (or let systemd make it: RuntimeDirectory=)`,
    );
  }
  if (code === 'EADDRINUSE') return new SocketInUseError(socketPath);
  return new DaemonError(ErrorCodes.SOCKET_PATH, `cannot listen on ${socketPath}: ${code ?? (error as Error).message}`);
}

/**
 * For "check": what the daemon would meet at this socket path, tried without
 * changing anything that stays: the directory's safety, and a bind of a
 * throwaway socket beside where the real one goes (removed at once). Returns
 * the problem, with its fix, or undefined when the daemon could listen there.
 */
export async function trySocketPath(socketPath: string): Promise<string | undefined> {
  const dir = path.dirname(socketPath);
  let existing = true;
  try {
    lstatSync(dir);
  } catch {
    existing = false;
  }
  if (!existing) {
    // The daemon would create it: can this user write the directory above?
    const parent = path.dirname(dir);
    try {
      accessSync(parent, constants.W_OK);
      return undefined;
    } catch {
      const user = runningAs();
      return `${dir} does not exist, and ${user} may not create it in ${parent}: install -d -o ${user} -g sasl -m 0710 ${dir}`;
    }
  }
  const unsafe = unsafeRunDirectory(dir);
  if (unsafe) return `the daemon would refuse the socket directory: ${unsafe}`;
  const probe = path.join(dir, `.check-${process.pid}-${Date.now()}`);
  const server = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(probe, () => resolve());
    });
    return undefined;
  } catch (error) {
    return listenError(socketPath, error).message;
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(probe, { force: true });
  }
}

export interface SocketIdentity {
  readonly path: string;
  readonly inode: number;
}

/**
 * Bind with a umask that leaves the new socket reachable by nobody but us, so
 * there is no moment at which it is open to all before its mode is set.
 */
export async function bindPrivately<T>(bind: () => Promise<T>): Promise<T> {
  const previous = process.umask(0o177);
  try {
    return await bind();
  } finally {
    process.umask(previous);
  }
}

/**
 * Apply mode and group to the freshly bound socket, and remember which file is
 * ours. Nothing here follows a link: the path is checked to be a socket first,
 * the owner is set with lchown, and the directory is one nobody else can write.
 */
export function finishSocket(socketPath: string, mode: number, gid: number | undefined): SocketIdentity {
  try {
    const bound = lstatSync(socketPath);
    if (!bound.isSocket()) throw Object.assign(new Error('not the socket we bound'), { code: 'ESWAPPED' });
    if (gid !== undefined) lchownSync(socketPath, -1, gid);
    chmodSync(socketPath, mode);
    return { path: socketPath, inode: bound.ino };
  } catch (error) {
    throw new DaemonError(ErrorCodes.SOCKET_PATH, `cannot set owner or mode of ${socketPath}: ${(error as NodeJS.ErrnoException).code}`);
  }
}

/** Remove the socket file, unless it is gone or another daemon has put its own there since. */
export function releaseSocket(identity: SocketIdentity): void {
  try {
    if (lstatSync(identity.path).ino === identity.inode) unlinkSync(identity.path);
  } catch {
    // Already gone: nothing to clean.
  }
}

/** What is at a socket path now, without changing anything (for "saslauthd-mysql check"). */
export async function socketPathState(socketPath: string): Promise<'absent' | 'not a socket' | 'live' | 'stale'> {
  let existing;
  try {
    existing = lstatSync(socketPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw new DaemonError(ErrorCodes.SOCKET_PATH, `cannot inspect ${socketPath}: ${(error as NodeJS.ErrnoException).code}`);
  }
  if (!existing.isSocket()) return 'not a socket';
  const outcome = await probeSocket(socketPath);
  return outcome === 'gone' ? 'absent' : outcome;
}
