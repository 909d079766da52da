/**
 * The listener: accepts mux connections on a UNIX socket, caps how many are
 * open, and shuts down gracefully. All protocol work is in MuxConnection.
 *
 * Two rooms, each bounded by maxConnections: connections being worked on,
 * and connections whose answer waits on the throttle (a turn to come, a
 * delay to sit out). A held answer costs nothing but a file descriptor, and
 * keeping it out of the first room means a guesser's held answers can never
 * take the places other users' logins need.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import { describeError, ErrorCodes } from '../errors.js';
import { MuxConnection, type ConnectionTimeouts, type RequestHandler, type WaitingRoom } from './connection.js';

export interface MuxServerOptions {
  readonly handler: RequestHandler;
  readonly timeouts: ConnectionTimeouts;
  /**
   * Open connections at most. At the cap a newcomer takes the place of the
   * oldest connection still waiting for its request (a stalled or silent
   * peer: real clients send the request in their first write); when every
   * open connection is being answered, the newcomer is closed at once, which
   * the client reports as a temporary failure.
   */
  readonly maxConnections: number;
  readonly logger: Logger;
}

/** Held answers refused for want of room are logged at most this often. */
const NO_ROOM_LOG_INTERVAL_MS = 10_000;

/** A real client writes its request at once; one still silent after this long is fair game at the cap. */
const STALLED_AFTER_MS = 100;

/** Shed connections are logged at most this often, so a flood cannot flood the log. */
const SHED_LOG_INTERVAL_MS = 1000;

export class MuxServer {
  readonly #options: MuxServerOptions;
  readonly #server: net.Server;
  /** Counted against maxConnections. */
  readonly #connections = new Set<MuxConnection>();
  /** Held answers: their own room of the same size. */
  readonly #waiting = new Set<MuxConnection>();
  readonly #room: WaitingRoom = { enter: (connection) => this.#park(connection) };
  #lastNoRoomLog = 0;
  #onDrained: (() => void) | undefined;
  #shed = { refused: 0, evicted: 0 };
  #lastShedLog = 0;
  #shedLogTimer: NodeJS.Timeout | undefined;

  constructor(options: MuxServerOptions) {
    this.#options = options;
    // allowHalfOpen: a client may shut down its write side after sending the
    // request and must still receive the reply.
    this.#server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => this.#accept(socket));
  }

  /** Connections open, held answers included. */
  get connectionCount(): number {
    return this.#connections.size + this.#waiting.size;
  }

  /** Connections whose answer waits on the throttle. */
  get waitingCount(): number {
    return this.#waiting.size;
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
    // A held answer is a guess being slowed down or waiting its turn: not worth a grace period. Its client sees a temporary failure.
    for (const connection of this.#waiting) connection.destroy();
    if (this.connectionCount > 0) {
      const drained = new Promise<void>((resolve) => (this.#onDrained = resolve));
      let graceTimer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'grace-over'>((resolve) => {
        graceTimer = setTimeout(() => resolve('grace-over'), graceMs);
        graceTimer.unref();
      });
      const outcome = await Promise.race([drained, graceOver]);
      clearTimeout(graceTimer);
      if (outcome === 'grace-over') {
        this.#options.logger.warn({ open: this.connectionCount, graceMs }, 'grace period over; closing remaining connections');
        for (const connection of [...this.#connections, ...this.#waiting]) connection.destroy();
      }
    }
    await listenerClosed;
  }

  #accept(socket: net.Socket): void {
    if (this.#connections.size >= this.#options.maxConnections && !this.#evictStalled()) {
      socket.destroy();
      this.#noteShed('refused');
      return;
    }
    const connection = new MuxConnection(socket, this.#options.handler, this.#options.timeouts, this.#options.logger, this.#room);
    this.#connections.add(connection);
    socket.once('close', () => {
      this.#connections.delete(connection);
      this.#waiting.delete(connection);
      if (this.connectionCount === 0) this.#onDrained?.();
    });
  }

  /** Move a connection whose answer now waits on the throttle into the waiting room, if there is room. */
  #park(connection: MuxConnection): boolean {
    if (!this.#connections.has(connection)) return false;
    if (this.#waiting.size >= this.#options.maxConnections) {
      const now = Date.now();
      if (now - this.#lastNoRoomLog >= NO_ROOM_LOG_INTERVAL_MS) {
        this.#lastNoRoomLog = now;
        this.#options.logger.warn({ code: ErrorCodes.THROTTLE_BUSY, waiting: this.#waiting.size }, `${this.#waiting.size} answers are already held for throttled users and addresses; further throttled requests get a temporary failure`);
      }
      return false;
    }
    this.#connections.delete(connection);
    this.#waiting.add(connection);
    return true;
  }

  /**
   * Close the oldest connection that has been waiting for its request for a
   * while, to make room. False when there is none. Connections younger than
   * STALLED_AFTER_MS are spared, so a burst of newcomers cannot push out a
   * real client whose request simply has not been read yet.
   */
  #evictStalled(): boolean {
    const stalledSince = performance.now() - Math.min(STALLED_AFTER_MS, this.#options.timeouts.readTimeoutMs / 2);
    // A Set iterates in insertion order: oldest first, so the first one too young ends the search.
    for (const connection of this.#connections) {
      if (connection.acceptedAt > stalledSince) return false;
      if (connection.isReading) {
        connection.destroy();
        // Its 'close' comes later; stop counting it now so the newcomer fits.
        this.#connections.delete(connection);
        this.#noteShed('evicted');
        return true;
      }
    }
    return false;
  }

  /** Count shed connections and report them at most once per interval, never losing a count. */
  #noteShed(kind: 'refused' | 'evicted'): void {
    this.#shed[kind] += 1;
    if (this.#shedLogTimer) return;
    const wait = Math.max(0, this.#lastShedLog + SHED_LOG_INTERVAL_MS - Date.now());
    this.#shedLogTimer = setTimeout(() => {
      this.#shedLogTimer = undefined;
      this.#lastShedLog = Date.now();
      const { refused, evicted } = this.#shed;
      this.#options.logger.warn(
        { refused, evicted, maxConnections: this.#options.maxConnections },
        `connection limit reached: ${evicted} stalled connection(s) closed to make room, ${refused} new connection(s) refused (those clients see a temporary failure)`,
      );
      this.#shed = { refused: 0, evicted: 0 };
    }, wait);
    this.#shedLogTimer.unref();
  }
}
