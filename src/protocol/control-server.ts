/**
 * The daemon's control socket (RUNDIR/control, mode 0600: the daemon's own
 * user and root): how `saslauthd-mysql unblock USER` reaches the running
 * daemon. On the listener core like every listener; one request per
 * connection, one line each way, bounded and under the read deadline:
 *
 *   UNBLOCK <user>    OK unblocked | OK not blocked | ERR <why>
 *
 * It carries no password and answers no login; it is there only while the
 * compromise signal may block accounts (--compromise-block).
 */
import type net from 'node:net';
import type { Logger } from 'pino';
import { describeError, ErrorCodes } from '../errors.js';
import { Listener, type ServedConnection } from './listener.js';

export const CONTROL_SOCKET_NAME = 'control';
/** A request line is a command and a mailbox name: longer is not one. */
const MAX_LINE_BYTES = 1024;

export interface ControlHandler {
  /** True when there was a block to lift. */
  unblock(user: string): Promise<boolean>;
}

class ControlConnection implements ServedConnection {
  readonly #socket: net.Socket;
  readonly #opened = performance.now();
  #busy = false;

  constructor(socket: net.Socket, handler: ControlHandler, readTimeoutMs: number, log: Logger) {
    this.#socket = socket;
    let received = Buffer.alloc(0);
    const deadline = setTimeout(() => socket.destroy(), readTimeoutMs);
    deadline.unref();
    socket.on('error', () => undefined);
    socket.on('close', () => clearTimeout(deadline));
    socket.on('data', (chunk: Buffer) => {
      if (this.#busy) return;
      received = Buffer.concat([received, chunk]);
      const newline = received.indexOf(0x0a);
      if (newline < 0) {
        if (received.length > MAX_LINE_BYTES) this.#reply('ERR request too long');
        return;
      }
      this.#busy = true;
      clearTimeout(deadline);
      void this.#answer(received.subarray(0, newline).toString('utf8'), handler, log);
    });
  }

  get isIdle(): boolean {
    return !this.#busy;
  }

  idleSince(): number | undefined {
    return this.#busy ? undefined : this.#opened;
  }

  destroy(): void {
    this.#socket.destroy();
  }

  async #answer(line: string, handler: ControlHandler, log: Logger): Promise<void> {
    const match = /^UNBLOCK ([^\s\p{Cc}]{1,512})$/u.exec(line.trimEnd());
    if (!match) return this.#reply('ERR expected: UNBLOCK <user>');
    try {
      this.#reply((await handler.unblock(match[1]!)) ? 'OK unblocked' : 'OK not blocked');
    } catch (error) {
      log.error({ code: ErrorCodes.INTERNAL, error: describeError(error) }, 'control request failed');
      this.#reply('ERR the daemon could not do it; see its log');
    }
  }

  #reply(text: string): void {
    this.#socket.end(`${text}\n`);
  }
}

export class ControlServer extends Listener<ControlConnection> {
  constructor(handler: ControlHandler, readTimeoutMs: number, logger: Logger) {
    super({
      name: 'control',
      // A handful of administrators' commands at once, never logins.
      maxConnections: 8,
      maxPerPeer: 8,
      loginsPerConnection: 'one',
      connect: (socket) => new ControlConnection(socket, handler, readTimeoutMs, logger),
      logger,
    });
  }
}
