/**
 * The listener core under every protocol (saslauthd's socket, Dovecot's auth
 * protocol): it accepts connections on one or more addresses, caps how many
 * are open, keeps the room for held answers, says when it sheds connections,
 * and drains at shutdown, each by one rule. What a connection says and when
 * it answers is its protocol's business (connection.ts, dovecot-connection.ts).
 *
 * Two rooms, each as large as maxConnections: connections being worked on,
 * and answers that wait on the throttle (a turn to come, a delay to sit out).
 * A held answer costs nothing but a timer, and keeping it out of the first
 * room means a guesser's held answers never take the places other users'
 * logins need. On the mux socket a connection is one login, so a connection
 * whose answer is held leaves the connection cap; a Dovecot connection
 * carries many logins and stays counted, while its held answers take places
 * in the room all the same.
 *
 * At the cap, the connection that has been idle the longest with nothing in
 * flight (its protocol says which can go without costing a login) makes
 * room for a newcomer. And one peer (a local user on a UNIX socket, an
 * address over TCP: peer.ts) holds at most maxPerPeer connections, so no
 * single peer can take every place, idle or busy, from the others: at its
 * limit, a newcomer takes the place of that peer's own longest-idle one, or
 * is refused.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import type { AcceptedSocket, AcceptingServer } from './accepted-socket.js';
import { describeError, ErrorCodes } from '../errors.js';
import type { ListenerName } from './request.js';
import { peerOf } from './peer.js';

/** What the core needs to know of a protocol's connection. */
export interface ServedConnection {
  /** Carries no work (nothing received, nothing in flight): shutdown closes it at once. */
  readonly isIdle: boolean;
  /** Since when closing it to make room for a newcomer would cost nobody a login (performance.now()); undefined while it would. */
  idleSince(now: number): number | undefined;
  destroy(): void;
}

/** What the listener offers each of its connections. */
export interface ConnectionRoom {
  /** One of this connection's answers now waits on the throttle: a place in the room for held answers, false when it is full. */
  hold(): boolean;
  /** A held answer was given, or never will be: its place is free again. */
  release(): void;
}

export interface ListenerOptions<C extends ServedConnection, S extends AcceptedSocket = net.Socket> {
  /** For the log lines: a login listener's name, or the control socket's. */
  readonly name: ListenerName | 'control';
  /** Open connections at most, over every address; held answers at most, in their own room. */
  readonly maxConnections: number;
  /** Open connections one peer may hold (peer.ts); a connection whose peer cannot be told counts under none. */
  readonly maxPerPeer: number;
  /** 'one': each connection is one login, and leaves the cap while its answer is held. 'many': connections stay counted. */
  readonly loginsPerConnection: 'one' | 'many';
  /** The protocol's connection for a socket just accepted. */
  readonly connect: (socket: S, room: ConnectionRoom) => C;
  /**
   * The server to accept on at this address: for a protocol a library frames
   * (HTTP), or saslauthd's socket on the native UNIX listener. It must hand
   * each socket to `accept` before it reads from it. A plain net.Server (whose
   * sockets are net.Sockets) by default.
   */
  readonly serve?: (accept: (socket: S) => void, where: ListenAddress) => AcceptingServer;
  readonly logger: Logger;
}

/** A UNIX socket path the caller has made sure is free, a listening socket already open (systemd's), or a TCP host and port. */
export type ListenAddress = { readonly path: string } | { readonly fd: number } | { readonly host: string; readonly port: number };

/** Held answers refused for want of room are logged at most this often. */
const NO_ROOM_LOG_INTERVAL_MS = 10_000;

/** Shed connections are logged at most this often, so a flood cannot flood the log; no count is ever lost. */
const SHED_LOG_INTERVAL_MS = 1000;

export class Listener<C extends ServedConnection, S extends AcceptedSocket = net.Socket> {
  readonly #options: ListenerOptions<C, S>;
  readonly #servers: AcceptingServer[] = [];
  /** Counted against maxConnections, in the order they were accepted. */
  readonly #connections = new Set<C>();
  /** Connections out of the cap because their one answer is held ('one' only). */
  readonly #heldConnections = new Set<C>();
  /** Held answers per connection, so a connection that closes gives its places back. */
  readonly #holds = new Map<C, number>();
  #heldAnswers = 0;
  #lastNoRoomLog = Number.NEGATIVE_INFINITY;
  /** Open connections per peer, for the peers that have any; and each connection's peer. */
  readonly #perPeer = new Map<string, number>();
  readonly #peers = new Map<C, string>();
  /**
   * Connections accepted while fewer were open than one peer may hold: none
   * could take a peer past its share then, so who they are is asked only
   * once that many are open (a system call per connection spared on the hot
   * path, where a listener rarely holds that many).
   */
  readonly #unattributed = new Map<C, () => string | undefined>();
  #shed = { refused: 0, evicted: 0, overPeerLimit: 0 };
  #lastShedLog = Number.NEGATIVE_INFINITY;
  #shedLogTimer: NodeJS.Timeout | undefined;
  #onDrained: (() => void) | undefined;

  constructor(options: ListenerOptions<C, S>) {
    this.#options = options;
  }

  /** Connections open, those whose answer is held included. */
  get connectionCount(): number {
    return this.#connections.size + this.#heldConnections.size;
  }

  /** Answers that wait on the throttle. */
  get heldCount(): number {
    return this.#heldAnswers;
  }

  /** Start accepting there; resolves with the TCP port bound (useful with port 0), undefined for a UNIX socket. */
  async listen(where: ListenAddress): Promise<number | undefined> {
    // allowHalfOpen: a mux client may shut down its sending side after its request and still wants the reply.
    // A descriptor handed over by systemd may be either: its peers are asked for both.
    const transport = 'path' in where ? 'unix' : 'port' in where ? 'tcp' : undefined;
    const accept = (socket: S): void => this.#accept(socket, transport);
    // Without `serve` the sockets are net.Sockets, which is what S is then (its default).
    const server = this.#options.serve ? this.#options.serve(accept, where) : net.createServer({ allowHalfOpen: true }, accept as unknown as (socket: net.Socket) => void);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(where, () => {
        server.off('error', reject);
        server.on('error', (error) => this.#options.logger.error({ listener: this.#options.name, error: describeError(error) }, 'listener error'));
        resolve();
      });
    });
    this.#servers.push(server);
    const address = server.address();
    return typeof address === 'object' && address !== null ? address.port : undefined;
  }

  /**
   * Stop accepting, close connections with no work and held answers (a guess
   * being slowed down is not worth a grace period: its client sees a
   * temporary failure), give the rest up to graceMs to answer, then cut what
   * remains. Resolves when every connection is gone.
   */
  async close(graceMs: number): Promise<void> {
    const stopped = Promise.all(this.#servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    for (const connection of this.#connections) if (connection.isIdle) connection.destroy();
    for (const connection of this.#heldConnections) connection.destroy();
    if (this.connectionCount > 0) {
      const drained = new Promise<'drained'>((resolve) => (this.#onDrained = () => resolve('drained')));
      let graceTimer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'grace-over'>((resolve) => {
        graceTimer = setTimeout(() => resolve('grace-over'), graceMs);
        graceTimer.unref();
      });
      const outcome = await Promise.race([drained, graceOver]);
      clearTimeout(graceTimer);
      if (outcome === 'grace-over') {
        this.#options.logger.warn({ listener: this.#options.name, open: this.connectionCount, graceMs }, 'grace period over; closing remaining connections');
        for (const connection of [...this.#connections, ...this.#heldConnections]) connection.destroy();
      }
    }
    await stopped;
  }

  #accept(socket: S, transport: 'unix' | 'tcp' | undefined): void {
    // With this newcomer, could a peer hold more than its share? Only then does it matter who each one is.
    const crowded = this.connectionCount + 1 >= this.#options.maxPerPeer;
    if (crowded) this.#attributeAll();
    const peer = crowded ? peerOf(socket, transport) : undefined;
    if (peer !== undefined && (this.#perPeer.get(peer) ?? 0) >= this.#options.maxPerPeer && !this.#evictOne(peer)) {
      socket.destroy();
      this.#noteShed('overPeerLimit');
      return;
    }
    if (this.#connections.size >= this.#options.maxConnections && !this.#evictOne(undefined)) {
      socket.destroy();
      this.#noteShed('refused');
      return;
    }
    const connection: C = this.#options.connect(socket, this.#roomFor(() => connection));
    this.#connections.add(connection);
    if (peer !== undefined) this.#attribute(connection, peer);
    else if (!crowded) this.#unattributed.set(connection, () => peerOf(socket, transport));
    socket.once('close', () => {
      this.#forget(connection);
      this.#heldConnections.delete(connection);
      this.#heldAnswers -= this.#holds.get(connection) ?? 0;
      this.#holds.delete(connection);
      if (this.connectionCount === 0) this.#onDrained?.();
    });
  }

  #attribute(connection: C, peer: string): void {
    this.#peers.set(connection, peer);
    this.#perPeer.set(peer, (this.#perPeer.get(peer) ?? 0) + 1);
  }

  /** Ask who the connections accepted while the listener was uncrowded are, now that it matters. */
  #attributeAll(): void {
    if (this.#unattributed.size === 0) return;
    for (const [connection, who] of this.#unattributed) {
      const peer = who();
      if (peer !== undefined) this.#attribute(connection, peer);
    }
    this.#unattributed.clear();
  }

  /** Stop counting a connection against the cap and its peer (at its close, or at once when it is closed to make room). */
  #forget(connection: C): void {
    this.#connections.delete(connection);
    this.#unattributed.delete(connection);
    const peer = this.#peers.get(connection);
    if (peer === undefined) return;
    this.#peers.delete(connection);
    const left = (this.#perPeer.get(peer) ?? 1) - 1;
    if (left > 0) this.#perPeer.set(peer, left);
    else this.#perPeer.delete(peer);
  }

  #roomFor(connection: () => C): ConnectionRoom {
    return {
      hold: () => {
        const held = connection();
        if (!this.#connections.has(held) && !this.#heldConnections.has(held)) return false;
        if (this.#heldAnswers >= this.#options.maxConnections) {
          this.#noteNoRoom();
          return false;
        }
        this.#heldAnswers += 1;
        this.#holds.set(held, (this.#holds.get(held) ?? 0) + 1);
        if (this.#options.loginsPerConnection === 'one' && this.#connections.delete(held)) this.#heldConnections.add(held);
        return true;
      },
      release: () => {
        const held = connection();
        const holds = this.#holds.get(held) ?? 0;
        if (holds === 0) return;
        this.#heldAnswers -= 1;
        if (holds === 1) this.#holds.delete(held);
        else this.#holds.set(held, holds - 1);
      },
    };
  }

  /**
   * Close the connection idle the longest of those that can go without
   * costing a login (of this peer's only, when one is named), to make room.
   * False when there is none.
   */
  #evictOne(peer: string | undefined): boolean {
    const now = performance.now();
    let chosen: C | undefined;
    let since = Number.POSITIVE_INFINITY;
    for (const connection of this.#connections) {
      if (peer !== undefined && this.#peers.get(connection) !== peer) continue;
      const idle = connection.idleSince(now);
      if (idle !== undefined && idle < since) {
        chosen = connection;
        since = idle;
      }
    }
    if (chosen === undefined) return false;
    chosen.destroy();
    // Its 'close' comes later; stop counting it now so the newcomer fits.
    this.#forget(chosen);
    this.#noteShed('evicted');
    return true;
  }

  #noteNoRoom(): void {
    const now = performance.now();
    if (now - this.#lastNoRoomLog < NO_ROOM_LOG_INTERVAL_MS) return;
    this.#lastNoRoomLog = now;
    this.#options.logger.warn(
      { listener: this.#options.name, code: ErrorCodes.THROTTLE_BUSY, held: this.#heldAnswers },
      `${this.#heldAnswers} answers are already held for throttled users and addresses; further throttled requests get a temporary failure`,
    );
  }

  /** Count shed connections and report them at most once per interval. */
  #noteShed(kind: 'refused' | 'evicted' | 'overPeerLimit'): void {
    this.#shed[kind] += 1;
    if (this.#shedLogTimer) return;
    const wait = Math.max(0, this.#lastShedLog + SHED_LOG_INTERVAL_MS - performance.now());
    this.#shedLogTimer = setTimeout(() => {
      this.#shedLogTimer = undefined;
      this.#lastShedLog = performance.now();
      const { refused, evicted, overPeerLimit } = this.#shed;
      this.#shed = { refused: 0, evicted: 0, overPeerLimit: 0 };
      const { maxConnections, maxPerPeer } = this.#options;
      this.#options.logger.warn(
        { listener: this.#options.name, refused, evicted, overPeerLimit, maxConnections, maxPerPeer },
        `connection limit reached: ${evicted} idle connection(s) closed to make room, ${refused} new connection(s) refused, ${overPeerLimit} refused to a peer already holding ${maxPerPeer} (those clients see a temporary failure)`,
      );
    }, wait);
    this.#shedLogTimer.unref();
  }
}
