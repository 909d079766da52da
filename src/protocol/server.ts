/**
 * The listener: accepts mux connections on a UNIX socket, caps how many are
 * open, and shuts down gracefully. All protocol work is in MuxConnection.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import { describeError } from '../errors.js';
import { MuxConnection, type ConnectionTimeouts, type RequestHandler } from './connection.js';

export interface MuxServerOptions {
  readonly handler: RequestHandler;
  readonly timeouts: ConnectionTimeouts;
  /** Connections beyond this are closed at once, which the client reports as a temporary failure. */
  readonly maxConnections: number;
  readonly logger: Logger;
}

/** Refused connections are logged at most this often, so a flood cannot flood the log. */
const DROP_LOG_INTERVAL_MS = 1000;

export class MuxServer {
  readonly #options: MuxServerOptions;
  readonly #server: net.Server;
  readonly #connections = new Set<MuxConnection>();
  #onDrained: (() => void) | undefined;
  #droppedSinceLog = 0;
  #lastDropLog = 0;
  #dropLogTimer: NodeJS.Timeout | undefined;

  constructor(options: MuxServerOptions) {
    this.#options = options;
    // allowHalfOpen: a client may shut down its write side after sending the
    // request and must still receive the reply.
    this.#server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => this.#accept(socket));
    this.#server.maxConnections = options.maxConnections;
    this.#server.on('drop', () => this.#noteDrop());
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Listen on a path the caller has made sure is free, or on a listening socket already open (systemd's fd). */
  listen(where: string | { readonly fd: number }): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.#server.once('error', onError);
      this.#server.listen(typeof where === 'string' ? { path: where } : { fd: where.fd }, () => {
        this.#server.off('error', onError);
        this.#server.on('error', (error) => this.#options.logger.error({ error: describeError(error) }, 'listener error'));
        resolve();
      });
    });
  }

  /**
   * Stop accepting, drop connections that have sent nothing, give the rest up
   * to graceMs to finish, then cut what remains. Resolves when all are gone.
   */
  async close(graceMs: number): Promise<void> {
    const listenerClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const connection of this.#connections) {
      if (connection.isIdle) connection.destroy();
    }
    if (this.#connections.size > 0) {
      const drained = new Promise<void>((resolve) => (this.#onDrained = resolve));
      let graceTimer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'grace-over'>((resolve) => {
        graceTimer = setTimeout(() => resolve('grace-over'), graceMs);
        graceTimer.unref();
      });
      const outcome = await Promise.race([drained, graceOver]);
      clearTimeout(graceTimer);
      if (outcome === 'grace-over') {
        this.#options.logger.warn({ open: this.#connections.size, graceMs }, 'grace period over; closing remaining connections');
        for (const connection of this.#connections) connection.destroy();
      }
    }
    await listenerClosed;
  }

  #accept(socket: net.Socket): void {
    const connection = new MuxConnection(socket, this.#options.handler, this.#options.timeouts, this.#options.logger);
    this.#connections.add(connection);
    socket.once('close', () => {
      this.#connections.delete(connection);
      if (this.#connections.size === 0) this.#onDrained?.();
    });
  }

  /** Count refused connections and report them at most once per interval, never losing a count. */
  #noteDrop(): void {
    this.#droppedSinceLog += 1;
    if (this.#dropLogTimer) return;
    const wait = Math.max(0, this.#lastDropLog + DROP_LOG_INTERVAL_MS - Date.now());
    this.#dropLogTimer = setTimeout(() => {
      this.#dropLogTimer = undefined;
      this.#lastDropLog = Date.now();
      this.#options.logger.warn(
        { dropped: this.#droppedSinceLog, maxConnections: this.#options.maxConnections },
        'connection limit reached; refusing connections (clients see a temporary failure)',
      );
      this.#droppedSinceLog = 0;
    }, wait);
    this.#dropLogTimer.unref();
  }
}
