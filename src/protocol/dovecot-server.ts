/**
 * The listener for Dovecot's auth-client protocol (dovecot-connection.ts): a
 * UNIX socket, and optionally a TCP address for MTAs on other hosts. The
 * protocol has no authentication of its own, so the TCP address is loopback
 * unless the administrator names another, on a network they trust.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import { describeError } from '../errors.js';
import { DovecotConnection, type DovecotHandler, type DovecotPolicy, type DovecotTimeouts } from './dovecot-connection.js';

export interface DovecotServerOptions {
  readonly handler: DovecotHandler;
  readonly timeouts: DovecotTimeouts;
  /** Connections at most, over every address it listens on; a newcomer beyond it is closed at once. */
  readonly maxConnections: number;
  readonly policy: DovecotPolicy;
  readonly logger: Logger;
}

export class DovecotServer {
  readonly #options: DovecotServerOptions;
  readonly #servers: net.Server[] = [];
  readonly #connections = new Set<DovecotConnection>();
  #refused = 0;

  constructor(options: DovecotServerOptions) {
    this.#options = options;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** A path the caller has made sure is free, or a TCP host and port. Resolves with the TCP port bound (0 asks for any). */
  async listen(where: string | { readonly host: string; readonly port: number } | { readonly fd: number }): Promise<number | undefined> {
    const server = net.createServer((socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(typeof where === 'string' ? { path: where } : where, () => {
        server.off('error', reject);
        server.on('error', (error) => this.#options.logger.error({ error: describeError(error) }, 'dovecot-protocol listener error'));
        resolve();
      });
    });
    this.#servers.push(server);
    const address = server.address();
    return typeof address === 'object' && address !== null ? address.port : undefined;
  }

  /** Stop accepting; close idle connections at once and the rest after their answers (or graceMs). */
  async close(graceMs: number): Promise<void> {
    const closed = Promise.all(this.#servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    for (const connection of this.#connections) if (connection.isIdle) connection.destroy();
    const deadline = Date.now() + graceMs;
    while (this.#connections.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const connection of this.#connections) connection.destroy();
    await closed;
  }

  #accept(socket: net.Socket): void {
    if (this.#connections.size >= this.#options.maxConnections) {
      socket.destroy();
      this.#refused += 1;
      if (this.#refused === 1 || this.#refused % 1000 === 0) {
        this.#options.logger.warn({ refused: this.#refused, maxConnections: this.#options.maxConnections }, 'dovecot-protocol connection limit reached; new connections are closed at once (the MTA sees a temporary failure)');
      }
      return;
    }
    const connection = new DovecotConnection(socket, this.#options.handler, this.#options.timeouts, this.#options.logger, this.#options.policy);
    this.#connections.add(connection);
    socket.once('close', () => this.#connections.delete(connection));
  }
}
