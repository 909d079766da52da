/**
 * Brute-force throttling that bounds guessing without becoming a lockout.
 *
 * Counting. Definite failures are counted per key in bounded tables: the
 * user whose row exists, a name with no row, the client address (when the
 * client sends one: saslauthd's fifth field), and a user at an address that
 * recently logged in as that user (an "owner address"). After a key has
 * `afterFailures` failures within the window it is throttled.
 *
 * Delays. A throttled key's answers are delayed, growing from
 * FIRST_DELAY_MS and doubling up to maxDelayMs, with "equal jitter" (a
 * random point in the upper half) so nobody can time around it:
 *   - a name (user, no row, owner address): failure answers only; the right
 *     password earns no delay (it may still wait its turn, below);
 *   - an address: every answer, success included, so a reply's timing tells
 *     the guesser nothing; someone sharing that address waits with the
 *     guesser, unless it is one of their owner addresses.
 *
 * Evaluation rate (guess-gate.ts). Delaying answers alone lets a guesser
 * fire guesses in parallel and learn the right one at once, so a key also
 * bounds how many of its guesses are *evaluated*: at most `afterFailures`
 * minus its failures at once (one once throttled), and none while the delay
 * its last failure earned runs, whether or not that client still waits.
 * docs/security.md states the bound in guesses per minute.
 *
 * Owner addresses. Where the client's address is known, an address that
 * logged in successfully as a user within OWNER_ADDRESS_MS is counted and
 * gated under its own key (user at address) instead of the user's and the
 * address's, so guesses from elsewhere do not hold the owner back. With no
 * address known, the owner waits their turn with the guesses.
 *
 * Several hosts (throttle-store.ts). With a store, counts, turns, holds and
 * owner addresses are shared: an attempt is counted everywhere before it is
 * evaluated, and a throttled key takes one turn across every host, so
 * guesses spread over hosts get the bound one host gives. The local tables
 * and gate keep working underneath (and alone while the store is away).
 */
import { LRUCache } from 'lru-cache';
import type { Cancellation } from '../common/cancellation.js';
import { GuessGate, type Admission, type GatePass } from './guess-gate.js';
import type { SharedReservation, ThrottleStore } from './throttle-store.js';

export interface ThrottleSettings {
  /** Failures before answers are delayed; 0 turns throttling off. */
  readonly afterFailures: number;
  /** The longest delay ever added to one answer. */
  readonly maxDelayMs: number;
  /** A key's count is forgotten when it has seen no failure for this long. */
  readonly windowMs: number;
}

/** The first delay; each further failure doubles it, up to maxDelayMs. */
export const FIRST_DELAY_MS = 250;
/** Keys tracked at most in each table (LRU): bounds memory whatever an attacker sends, at about 100 bytes a key. */
export const MAX_TRACKED_KEYS = 50_000;
/** Requests that may wait for one key's turn; more are a temporary failure. A waiting request also waits out its answer deadline at most. */
export const MAX_WAITING_PER_KEY = 8;
/** How long a successful login makes its address an owner address for that user. */
export const OWNER_ADDRESS_MS = 7 * 24 * 3600 * 1000;

/**
 * What the failing name was, which decides the table it is counted in, so
 * that names anyone can make up cannot push a real user's count out:
 *   has-row     the lookup found the user's row
 *   no-row      the lookup found none (or refused it): made-up names land here
 *   not-a-name  refused before any lookup (invalid text): one shared count
 */
export type NameKind = 'has-row' | 'no-row' | 'not-a-name';

type Table = 'has-row' | 'no-row' | 'address' | 'owner';

/** One counter of the throttle. */
export interface ThrottleKey {
  readonly table: Table;
  readonly key: string;
  readonly id: string;
}

/** The one key every request refused before its lookup shares (NUL never occurs in a name). */
const NOT_A_NAME = '\u0000not-a-name';

interface Count {
  failures: number;
  lastFailureAt: number;
}

export interface ThrottleDecision {
  /** How long to hold the answer: the longest of its keys' delays. */
  readonly delayMs: number;
  /** What the delay was earned by, and how many failures it had. */
  readonly by: 'user' | 'address';
  readonly failures: number;
}

/** What counting one outcome did. */
export interface Settled {
  readonly decision: ThrottleDecision | undefined;
  /** Keys whose count reached the threshold with this failure (one log line each). */
  readonly crossed: readonly ThrottleKey[];
}

export interface ThrottleClock {
  now(): number;
  random(): number;
}

const SYSTEM_CLOCK: ThrottleClock = { now: () => Date.now(), random: () => Math.random() };

export class FailureThrottle {
  readonly #settings: ThrottleSettings;
  readonly #clock: ThrottleClock;
  /** Users whose row exists; names with no row; client addresses; owner addresses: each its own bounded table. */
  readonly #tables: Readonly<Record<Table, LRUCache<string, Count>>> = {
    'has-row': new LRUCache<string, Count>({ max: MAX_TRACKED_KEYS }),
    'no-row': new LRUCache<string, Count>({ max: MAX_TRACKED_KEYS }),
    address: new LRUCache<string, Count>({ max: MAX_TRACKED_KEYS }),
    owner: new LRUCache<string, Count>({ max: MAX_TRACKED_KEYS }),
  };
  /** user NUL address → when that address last logged in as that user. */
  readonly #owners = new LRUCache<string, number>({ max: MAX_TRACKED_KEYS });
  readonly #gate: GuessGate<ThrottleKey>;

  readonly #store: ThrottleStore | undefined;

  constructor(settings: ThrottleSettings, clock: ThrottleClock = SYSTEM_CLOCK, store?: ThrottleStore) {
    this.#settings = settings;
    this.#clock = clock;
    this.#store = store;
    this.#gate = new GuessGate<ThrottleKey>({ capacity: (key) => this.#capacity(key), maxWaitingPerKey: MAX_WAITING_PER_KEY, clock });
  }

  get afterFailures(): number {
    return this.#settings.afterFailures;
  }

  get trackedKeys(): number {
    return Object.values(this.#tables).reduce((sum, table) => sum + table.size, 0);
  }

  /**
   * The keys a login is counted, delayed and gated under, address first
   * (every request takes them in that order). `user` is the row's own name,
   * or the normalised spelling of a name with no row.
   */
  keysFor(user: string, address: string | undefined, kind: NameKind): readonly ThrottleKey[] {
    if (kind === 'has-row' && address !== undefined && this.#isOwnerAddress(user, address)) return [key('owner', ownerId(user, address))];
    const name = kind === 'not-a-name' ? key('no-row', NOT_A_NAME) : key(kind, user);
    return address === undefined ? [name] : [key('address', address), name];
  }

  /**
   * Wait for these keys' turn to evaluate a password (guess-gate.ts), on
   * this host and, with a store, on every host. The admission may name other
   * keys than asked: another host knew the address as the user's owner.
   */
  admit(keys: readonly ThrottleKey[], cancellation: Cancellation, onWait: () => boolean): ThrottleAdmission | Promise<ThrottleAdmission> {
    if (!this.#store) return this.#gate.admit(keys, cancellation, onWait);
    return this.#admitShared(this.#store, keys, cancellation, onWait);
  }

  async #admitShared(store: ThrottleStore, asked: readonly ThrottleKey[], cancellation: Cancellation, onWait: () => boolean): Promise<ThrottleAdmission> {
    const keys = await this.#withSharedOwner(store, asked);
    const pending = this.#gate.admit(keys, cancellation, onWait);
    const local = pending instanceof Promise ? await pending : pending;
    if (!local.admitted) return local;
    const reservation = await store.reserve(keys, this.#settings.afterFailures, cancellation);
    if (reservation === 'cancelled') {
      local.pass.release();
      return { admitted: false, why: 'cancelled' };
    }
    const pass = reservation ? new SharedPass(local.pass, reservation) : local.pass;
    return keys === asked ? { admitted: true, pass } : { admitted: true, pass, keys };
  }

  /** A user's name and address another host saw log in together: their owner key, remembered here too. */
  async #withSharedOwner(store: ThrottleStore, keys: readonly ThrottleKey[]): Promise<readonly ThrottleKey[]> {
    const [address, name] = keys;
    if (keys.length !== 2 || address?.table !== 'address' || name?.table !== 'has-row') return keys;
    if (!(await store.isOwnerAddress(name.key, address.key))) return keys;
    this.#owners.set(ownerId(name.key, address.key), this.#clock.now());
    return [key('owner', ownerId(name.key, address.key))];
  }

  /**
   * Count the outcome of an admitted evaluation, say how long to hold its
   * answer, and give the keys back, each closed for the delay it earned.
   * `failed` is a definite failure (NO); `owner` names the user and address
   * of a success, which makes the address an owner address.
   */
  settle(pass: GatePass, keys: readonly ThrottleKey[], failed: boolean, owner?: { readonly user: string; readonly address: string }): Settled {
    const shared = pass instanceof SharedPass ? pass.reservation.failuresBefore : undefined;
    const delays = keys.map((k, i) => this.#delayOf(k, failed, shared?.[i]));
    const crossed = this.#record(keys, failed, shared);
    if (!failed && owner) {
      this.#owners.set(ownerId(owner.user, owner.address), this.#clock.now());
      this.#store?.rememberOwnerAddress(owner.user, owner.address);
    }
    const holds = delays.map((d) => d?.delayMs ?? 0);
    if (pass instanceof SharedPass) pass.settle(failed ? 'failure' : 'success', holds);
    pass.release(holds);
    return { decision: longest(delays), crossed };
  }

  /** How long to hold an answer under these keys, judged on the failures before it (for tests and for settle). */
  decide(keys: readonly ThrottleKey[], failed: boolean): ThrottleDecision | undefined {
    return longest(keys.map((k) => this.#delayOf(k, failed)));
  }

  /** Count one outcome: a failure against every key, a success starts its name over (never its address). */
  record(keys: readonly ThrottleKey[], failed: boolean): ThrottleKey[] {
    return this.#record(keys, failed);
  }

  clear(): void {
    for (const table of Object.values(this.#tables)) table.clear();
    this.#owners.clear();
  }

  /** `sharedBefore`: each key's failures on every host before this one, when a store said. */
  #record(keys: readonly ThrottleKey[], failed: boolean, sharedBefore?: readonly number[]): ThrottleKey[] {
    const crossed: ThrottleKey[] = [];
    for (const [i, k] of keys.entries()) {
      if (failed) {
        const here = this.#bump(k);
        if ((sharedBefore ? sharedBefore[i]! + 1 : here) === this.#settings.afterFailures) crossed.push(k);
      } else if (k.table !== 'address') {
        // The owner proved the password: the name starts over. The address does not,
        // or an attacker with one account of their own could wipe their address's record between guesses.
        this.#tables[k.table].delete(k.key);
      }
    }
    return crossed;
  }

  #delayOf(k: ThrottleKey, failed: boolean, sharedBefore?: number): ThrottleDecision | undefined {
    if (this.#settings.afterFailures <= 0 || (!failed && k.table !== 'address')) return undefined;
    const failures = Math.max(this.#failures(k), sharedBefore ?? 0);
    if (failures < this.#settings.afterFailures) return undefined;
    const ceiling = Math.min(this.#settings.maxDelayMs, FIRST_DELAY_MS * 2 ** Math.min(30, failures - this.#settings.afterFailures));
    const delayMs = Math.round(ceiling / 2 + (this.#clock.random() * ceiling) / 2);
    return { delayMs, by: k.table === 'address' ? 'address' : 'user', failures };
  }

  /** Evaluations that may run at once: fewer as failures mount, one once throttled. An address with no failure is not limited (many users share one NAT). */
  #capacity(k: ThrottleKey): number {
    const failures = this.#failures(k);
    if (k.table === 'address' && failures === 0) return Number.POSITIVE_INFINITY;
    return Math.max(1, this.#settings.afterFailures - failures);
  }

  #isOwnerAddress(user: string, address: string): boolean {
    const id = ownerId(user, address);
    const since = this.#owners.get(id);
    if (since === undefined) return false;
    if (this.#clock.now() - since > OWNER_ADDRESS_MS) {
      this.#owners.delete(id);
      return false;
    }
    return true;
  }

  #failures(k: ThrottleKey): number {
    const counts = this.#tables[k.table];
    const count = counts.get(k.key);
    if (!count) return 0;
    if (this.#clock.now() - count.lastFailureAt > this.#settings.windowMs) {
      counts.delete(k.key);
      return 0;
    }
    return count.failures;
  }

  #bump(k: ThrottleKey): number {
    const failures = this.#failures(k) + 1;
    this.#tables[k.table].set(k.key, { failures, lastFailureAt: this.#clock.now() });
    return failures;
  }
}

function key(table: Table, name: string): ThrottleKey {
  return { table, key: name, id: `${table}\u0000${name}` };
}

function ownerId(user: string, address: string): string {
  return `${user}\u0000${address}`;
}

function longest(delays: ReadonlyArray<ThrottleDecision | undefined>): ThrottleDecision | undefined {
  let chosen: ThrottleDecision | undefined;
  for (const d of delays) if (d && (!chosen || d.delayMs > chosen.delayMs)) chosen = d;
  return chosen;
}

/**
 * The address part of the fifth field ("addr;port", as cyrus-sasl sends it):
 * the port changes with every connection, so it must not be part of the key.
 */
export function clientAddressOf(field: string): string {
  const separator = field.lastIndexOf(';');
  return separator < 0 ? field : field.slice(0, separator);
}

/** An admission, and the keys it was taken under when they differ from the ones asked for. */
export type ThrottleAdmission = Admission | { readonly admitted: true; readonly pass: GatePass; readonly keys: readonly ThrottleKey[] };

/**
 * A turn on this host and a reservation in the shared store: the outcome
 * settles the reservation; given back without one (a temporary failure, a
 * client that left), the attempt is taken back from the shared counts.
 */
class SharedPass implements GatePass {
  readonly #local: GatePass;
  readonly reservation: SharedReservation;

  constructor(local: GatePass, reservation: SharedReservation) {
    this.#local = local;
    this.reservation = reservation;
  }

  settle(outcome: 'failure' | 'success', holdMs: readonly number[]): void {
    this.reservation.settle(outcome, holdMs);
  }

  release(holdMs?: readonly number[]): void {
    // Settling twice is a no-op: after settle() this only gives the local turn back.
    this.reservation.settle('not-counted', []);
    this.#local.release(holdMs);
  }
}
