/**
 * The socket file's life: claim the path (refusing when another daemon
 * answers there, replacing a stale file left by a crash), set its mode and
 * group, and remove it on the way out, but only if it is still ours.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import net from 'node:net';
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

/** Returns 'replaced-stale' when a crash left a socket behind and we removed it. */
export async function claimSocketPath(socketPath: string): Promise<'free' | 'replaced-stale'> {
  const dir = path.dirname(socketPath);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (error) {
    throw new DaemonError(ErrorCodes.SOCKET_PATH, `cannot create socket directory ${dir}: ${(error as NodeJS.ErrnoException).code}`);
  }
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

export interface SocketIdentity {
  readonly path: string;
  readonly inode: number;
}

/** Apply mode and group to the freshly bound socket, and remember which file is ours. */
export function finishSocket(socketPath: string, mode: number, gid: number | undefined): SocketIdentity {
  try {
    if (gid !== undefined) chownSync(socketPath, -1, gid);
    chmodSync(socketPath, mode);
  } catch (error) {
    throw new DaemonError(ErrorCodes.SOCKET_PATH, `cannot set owner or mode of ${socketPath}: ${(error as NodeJS.ErrnoException).code}`);
  }
  return { path: socketPath, inode: statSync(socketPath).ino };
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
