/**
 * The compromised-account signal. A stolen password is used from wherever
 * its buyers are: successful logins for one account from many networks in
 * a short time are the mark of it, where its owner has a few (home, office,
 * phone). Each success with a believed client address notes the address's
 * network (an IPv4 /24, an IPv6 /64 by default); when an account reaches
 * `networks` distinct ones within the window, one warning line (event
 * "compromise") and a metric say so, once per window, on one host; with a
 * throttle store the networks are counted across every host.
 *
 * The optional action (blockMs > 0): the account's sending logins (SMTP,
 * submission) are refused for that long, since stolen mailbox passwords are
 * mostly used to send spam; reading mail stays open to the owner. `saslauthd-
 * mysql unblock USER` ends it early (control-socket.ts).
 */
import { growingLru } from '../common/growing-lru.js';
import type { Logger } from 'pino';
import { networkOf } from '../protocol/ip-address.js';
import { escapeField } from './auth-log.js';
import { MAX_TRACKED_KEYS } from './throttle.js';

export interface CompromiseSettings {
  /** Distinct networks within the window that raise the signal; 0 turns the watch off. */
  readonly networks: number;
  readonly windowMs: number;
  readonly ipv4PrefixBits: number;
  readonly ipv6PrefixBits: number;
  /** How long sending logins are refused after the signal; 0: never (the signal only). */
  readonly blockMs: number;
}

/** What the watch keeps in the throttle store, so that every host counts the same networks (redis-compromise-store.ts). */
export interface CompromiseStore {
  /** Note a network for the user and say how many distinct ones it has within the window, on every host; undefined when the store cannot say in time. */
  noteNetwork(user: string, network: string, windowMs: number, keep: number): Promise<number | undefined>;
  /** True for the first host to raise the signal for this user within the window (the others stay quiet); undefined when the store cannot say. */
  claimSignal(user: string, windowMs: number): Promise<boolean | undefined>;
  block(user: string, ms: number): void;
  /** Whether the user is blocked on some host; undefined when the store cannot say in time. */
  isBlocked(user: string): Promise<boolean | undefined>;
  /** True when there was a block to lift; undefined when the store cannot say. */
  unblock(user: string): Promise<boolean | undefined>;
}

/** The services whose logins send mail: the ones a block refuses. */
export const SENDING_SERVICES: ReadonlySet<string> = new Set(['smtp', 'submission', 'smtps']);

export interface WatchClock {
  now(): number;
}

export class CompromiseWatch {
  readonly #settings: CompromiseSettings;
  readonly #log: Logger;
  readonly #store: CompromiseStore | undefined;
  readonly #onSignal: ((service: string) => void) | undefined;
  readonly #clock: WatchClock;
  /** user → network → when a login last came from it. */
  readonly #networks = growingLru<string, Map<string, number>>(MAX_TRACKED_KEYS);
  /** user → when this host last raised the signal for it. */
  readonly #raised = growingLru<string, number>(MAX_TRACKED_KEYS);
  /** user → until when its sending logins are refused (this host's view; the store's wins when it answers). */
  readonly #blocked = growingLru<string, number>(MAX_TRACKED_KEYS);

  constructor(settings: CompromiseSettings, log: Logger, options: { readonly store?: CompromiseStore; readonly onSignal?: (service: string) => void; readonly clock?: WatchClock } = {}) {
    if (settings.networks < 2) throw new RangeError('the compromise watch needs at least two networks to compare');
    this.#settings = settings;
    this.#log = log;
    this.#store = options.store;
    this.#onSignal = options.onSignal;
    this.#clock = options.clock ?? Date;
  }

  /** A successful login from a believed address. Returns at once: whatever the store says comes later. */
  success(user: string, address: string, service: string): void {
    const network = networkOf(address, this.#settings.ipv4PrefixBits, this.#settings.ipv6PrefixBits);
    if (network === undefined) return;
    const here = this.#note(user, network);
    if (!this.#store) {
      if (here >= this.#settings.networks) this.#raise(user, here, service, address);
      return;
    }
    void this.#noteShared(this.#store, user, network, here, service, address);
  }

  /** Whether the signal blocks anything: only then is isBlocked worth asking. */
  get blocking(): boolean {
    return this.#settings.blockMs > 0;
  }

  /** Whether the account's sending logins are refused now. */
  async isBlocked(user: string): Promise<boolean> {
    if (this.#settings.blockMs <= 0) return false;
    const shared = await this.#store?.isBlocked(user);
    if (shared !== undefined) {
      // The store lifts blocks for every host (unblock on any of them): its word wins.
      if (!shared) this.#blocked.delete(user);
      return shared;
    }
    const until = this.#blocked.get(user);
    if (until === undefined) return false;
    if (until <= this.#clock.now()) {
      this.#blocked.delete(user);
      return false;
    }
    return true;
  }

  /** Lift a block here and in the store: true when there was one. */
  async unblock(user: string): Promise<boolean> {
    const here = this.#blocked.get(user) !== undefined && this.#blocked.get(user)! > this.#clock.now();
    this.#blocked.delete(user);
    this.#networks.delete(user);
    this.#raised.delete(user);
    const shared = await this.#store?.unblock(user);
    if (here || shared) this.#log.warn({ event: 'compromise', action: 'unblock', user }, `compromise: [user=${escapeField(user)}] unblocked: sending logins accepted again`);
    return here || shared === true;
  }

  /** Remember the network on this host; how many distinct networks the user has here within the window. */
  #note(user: string, network: string): number {
    const now = this.#clock.now();
    let seen = this.#networks.get(user);
    if (!seen) {
      seen = new Map();
      this.#networks.set(user, seen);
    }
    seen.delete(network);
    seen.set(network, now);
    for (const [known, at] of seen) {
      // Oldest first (insertion order, refreshed above): stop at the first still inside the window.
      if (now - at <= this.#settings.windowMs && seen.size <= this.#settings.networks) break;
      seen.delete(known);
    }
    return seen.size;
  }

  async #noteShared(store: CompromiseStore, user: string, network: string, here: number, service: string, address: string): Promise<void> {
    const everywhere = await store.noteNetwork(user, network, this.#settings.windowMs, this.#settings.networks);
    const count = Math.max(here, everywhere ?? 0);
    if (count < this.#settings.networks || this.#raisedRecently(user)) return;
    // One host says it for the whole cluster; a store that cannot answer leaves it to this one.
    const first = await store.claimSignal(user, this.#settings.windowMs);
    if (first === false) {
      this.#raised.set(user, this.#clock.now());
      return;
    }
    this.#raise(user, count, service, address);
  }

  #raisedRecently(user: string): boolean {
    const at = this.#raised.get(user);
    return at !== undefined && this.#clock.now() - at < this.#settings.windowMs;
  }

  #raise(user: string, networks: number, service: string, address: string): void {
    if (this.#raisedRecently(user)) return;
    const now = this.#clock.now();
    this.#raised.set(user, now);
    this.#onSignal?.(service);
    const { windowMs, blockMs } = this.#settings;
    const action = blockMs > 0 ? `sending logins refused for ${Math.round(blockMs / 1000)} s, or until saslauthd-mysql unblock` : 'none';
    if (blockMs > 0) {
      this.#blocked.set(user, now + blockMs);
      this.#store?.block(user, blockMs);
    }
    this.#log.warn(
      { event: 'compromise', user, networks, windowS: Math.round(windowMs / 1000), service, remote: address, action },
      `compromise: [user=${escapeField(user)}] [networks=${networks}] [window=${Math.round(windowMs / 1000)}s] [remote=${escapeField(address)}]: successful logins from ${networks} networks; a stolen password? action: ${action}`,
    );
  }
}
