/**
 * systemd socket activation (sd_listen_fds(3)): when a .socket unit starts
 * us, the listening socket is already open as fd 3 and LISTEN_PID names this
 * process. systemd then owns the socket file, its mode and group, and keeps
 * it across restarts, so no login is refused while the daemon restarts.
 */
import { fstatSync, readFileSync, readlinkSync } from 'node:fs';
import { DaemonError, ErrorCodes } from '../errors.js';

/** The first passed descriptor, by the protocol's definition (SD_LISTEN_FDS_START). */
const FIRST_FD = 3;

export interface InheritedListener {
  readonly fd: number;
  /** The unit's FileDescriptorName=, when set (for logs). */
  readonly name: string | undefined;
}

/** What systemd passed: the mux socket, the Dovecot-protocol socket, or both. */
export interface InheritedListeners {
  readonly mux?: InheritedListener;
  readonly dovecot?: InheritedListener;
}

/** The name that marks the Dovecot-protocol socket (FileDescriptorName= in its .socket unit). */
export const DOVECOT_FD_NAME = 'dovecot';

function inheritedSocket(fd: number, count: number): void {
  let isSocket: boolean;
  try {
    isSocket = fstatSync(fd).isSocket();
  } catch (error) {
    throw new DaemonError(ErrorCodes.SOCKET_PATH, `LISTEN_FDS=${count} but fd ${fd} is not open: ${(error as NodeJS.ErrnoException).code}`);
  }
  if (!isSocket) throw new DaemonError(ErrorCodes.SOCKET_PATH, `LISTEN_FDS=${count} but fd ${fd} is not a socket`);
}

/**
 * The listeners systemd passed to this process: none, the mux socket, or, with
 * a second .socket unit whose FileDescriptorName= is "dovecot", the Dovecot
 * protocol's too (without names, the second is Dovecot's). The variables are
 * removed once read, as sd_listen_fds(1) does, so nothing this process starts
 * mistakes them for its own.
 */
export function takeInheritedListeners(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): InheritedListeners {
  const listenPid = env.LISTEN_PID;
  const listenFds = env.LISTEN_FDS;
  const names = env.LISTEN_FDNAMES?.split(':') ?? [];
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  // Variables meant for another process (a parent that did not clear them): not ours.
  if (listenPid === undefined || listenFds === undefined || Number(listenPid) !== pid) return {};
  const count = Number(listenFds);
  if (!Number.isInteger(count) || count < 1) return {};
  if (count > 2) {
    throw new DaemonError(ErrorCodes.SOCKET_PATH, `systemd passed ${count} sockets; saslauthd-mysql takes at most two: the mux socket and the Dovecot protocol's (FileDescriptorName=${DOVECOT_FD_NAME})`);
  }
  const listeners = Array.from({ length: count }, (_, i) => {
    inheritedSocket(FIRST_FD + i, count);
    return { fd: FIRST_FD + i, name: names[i] || undefined };
  });
  const dovecotAt = listeners.findIndex((listener) => listener.name === DOVECOT_FD_NAME);
  const dovecot = dovecotAt >= 0 ? listeners[dovecotAt] : count === 2 ? listeners[1] : undefined;
  const mux = listeners.find((listener) => listener !== dovecot);
  return Object.assign({}, mux ? { mux } : {}, dovecot ? { dovecot } : {});
}

/**
 * The path a passed UNIX socket is bound to, read from /proc (Linux):
 * undefined when it cannot be told (no path, /proc not readable).
 */
export function inheritedSocketPath(fd: number): string | undefined {
  try {
    const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
    if (!inode) return undefined;
    for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[6] === inode) return fields[7];
    }
  } catch {
    // Not Linux, or /proc hidden: nothing to compare.
  }
  return undefined;
}

/**
 * A .socket unit cannot read /etc/default, so it listens where its own file
 * says. When that is not where the daemon's settings put the socket, serving
 * it anyway would leave the administrator's setting silently unused (and
 * Postfix asking at the other path): refuse, and say how to make them agree.
 */
export function refuseMisplacedSocket(fd: number, configured: string, setting: string, unit: string): void {
  const bound = inheritedSocketPath(fd);
  if (bound === undefined || bound === configured) return;
  throw new DaemonError(
    ErrorCodes.SOCKET_PATH,
    `systemd passed the socket ${bound}, but ${setting} puts it at ${configured}: make them agree, either ListenStream=${configured} in ${unit} (systemctl edit ${unit}) or ${setting} back to ${bound}`,
  );
}
