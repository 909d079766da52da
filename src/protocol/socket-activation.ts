/**
 * systemd socket activation (sd_listen_fds(3)): when a .socket unit starts
 * us, the listening socket is already open as fd 3 and LISTEN_PID names this
 * process. systemd then owns the socket file, its mode and group, and keeps
 * it across restarts, so no login is refused while the daemon restarts.
 */
import { fstatSync } from 'node:fs';
import { DaemonError, ErrorCodes } from '../errors.js';

/** The first passed descriptor, by the protocol's definition (SD_LISTEN_FDS_START). */
const FIRST_FD = 3;

export interface InheritedListener {
  readonly fd: number;
  /** The unit's FileDescriptorName=, when set (for logs). */
  readonly name: string | undefined;
}

/**
 * The listener systemd passed to this process, or undefined when none was.
 * The variables are removed once read, as sd_listen_fds(1) does, so nothing
 * this process starts mistakes them for its own.
 */
export function takeInheritedListener(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): InheritedListener | undefined {
  const listenPid = env.LISTEN_PID;
  const listenFds = env.LISTEN_FDS;
  const names = env.LISTEN_FDNAMES;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  // Variables meant for another process (a parent that did not clear them): not ours.
  if (listenPid === undefined || listenFds === undefined || Number(listenPid) !== pid) return undefined;
  const count = Number(listenFds);
  if (!Number.isInteger(count) || count < 1) return undefined;
  if (count > 1) {
    throw new DaemonError(ErrorCodes.SOCKET_PATH, `systemd passed ${count} sockets; saslauthd-mysql listens on exactly one (one ListenStream= in the .socket unit)`);
  }
  let isSocket: boolean;
  try {
    isSocket = fstatSync(FIRST_FD).isSocket();
  } catch (error) {
    throw new DaemonError(ErrorCodes.SOCKET_PATH, `LISTEN_FDS=1 but fd ${FIRST_FD} is not open: ${(error as NodeJS.ErrnoException).code}`);
  }
  if (!isSocket) throw new DaemonError(ErrorCodes.SOCKET_PATH, `LISTEN_FDS=1 but fd ${FIRST_FD} is not a socket`);
  return { fd: FIRST_FD, name: names?.split(':')[0] || undefined };
}
