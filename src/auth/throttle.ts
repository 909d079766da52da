/**
 * Brute-force throttling that bounds guessing without becoming a lockout.
 *
 * Counting. Definite failures are counted per key in bounded tables: the
 * user whose row exists, a name with no row, the client address (when the
 * client sends one: saslauthd's fifth field; an IPv6 address by its network,
 * /64 by default), and a user at an address that recently logged in as that
 * user (an "owner address"). After a key has
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
 *
 * A login sees all of this as one Turn (throttle-turn.ts; after Dovecot's auth-penalty.h: the
 * request logic never sees the tables): it claims the turn for a name before
 * a password is evaluated, moves it to the row's own name when the lookup
 * says it, and settles it with the outcome, which counts it, gives the keys
 * back, writes the "throttling:" line when a key crosses the threshold, and
 * says how long to hold the answer.
 */
import type { LRUCache } from 'lru-cache';
import { growingLru } from '../common/growing-lru.js';
import type { Logger } from 'pino';
import type { Cancellation } from '../common/cancellation.js';
import type { Hold } from '../protocol/answering.js';
import { addressGroup } from '../protocol/ip-address.js';
import { escapeField } from './auth-log.js';
import { GuessGate, type Admission, type FreshClaim, type GatePass } from './guess-gate.js';
import type { OwnerProbe, SharedCount, SharedOutcome, SharedReservation, ThrottleStore } from './throttle-store.js';
import { key, ThrottleTurn, type KeyedAdmission, type NameKind, type Pass, type SettledAs, type Table, type ThrottleKey, type Turn, type TurnSteps } from './throttle-turn.js';

export { NO_TURN, type NameKind, type Turn } from './throttle-turn.js';

export interface ThrottleSettings {
  /** Failures before answers are delayed; at least 1 (0 turns throttling off: the daemon then builds no throttle). */
  readonly afterFailures: number;
  /** The longest delay ever added to one answer. */
  readonly maxDelayMs: number;
  /** A key's count is forgotten when it has seen no failure for this long. */
  readonly windowMs: number;
  /** IPv6 client addresses are counted by their network of this many bits (protocol/ip-address.ts). */
  readonly ipv6PrefixBits: number;
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
 * A throttled name still evaluates a login from a fresh address (one with no
 * failures in the window) this often, past the guesses queued on it
 * (guess-gate.ts): the owner on a new network waits about this long at most,
 * and guessers with many fresh addresses gain at most one evaluation per
 * spacing per name (60 a minute), each address only until its first failure.
 */
export const FRESH_SPACING_MS = 1_000;



/** The one key every request refused before its lookup shares (NUL never occurs in a name). */
const NOT_A_NAME = '\u0000not-a-name';

interface Count {
  failures: number;
  lastFailureAt: number;
}

interface Delay {
  readonly delayMs: number;
  readonly failures: number;
}


export interface ThrottleClock {
  now(): number;
  random(): number;
}

const SYSTEM_CLOCK: ThrottleClock = { now: () => Date.now(), random: () => Math.random() };


export class FailureThrottle {
  readonly #settings: ThrottleSettings;
  readonly #log: Logger;
  readonly #clock: ThrottleClock;
  /** Users whose row exists; names with no row; client addresses; owner addresses: each its own bounded table. */
  readonly #tables: Readonly<Record<Table, LRUCache<string, Count>>> = {
    'has-row': growingLru<string, Count>(MAX_TRACKED_KEYS),
    'no-row': growingLru<string, Count>(MAX_TRACKED_KEYS),
    address: growingLru<string, Count>(MAX_TRACKED_KEYS),
    owner: growingLru<string, Count>(MAX_TRACKED_KEYS),
  };
  /** user NUL address → when that address last logged in as that user. */
  readonly #owners = growingLru<string, number>(MAX_TRACKED_KEYS);
  readonly #gate: GuessGate<ThrottleKey>;
  readonly #store: ThrottleStore | undefined;

  constructor(settings: ThrottleSettings, log: Logger, clock: ThrottleClock = SYSTEM_CLOCK, store?: ThrottleStore) {
    if (settings.afterFailures < 1) throw new RangeError('a throttle counts at least one failure before it delays');
    this.#settings = settings;
    this.#log = log;
    this.#clock = clock;
    this.#store = store;
    // Counts are kept by the wall clock (a shared store compares them across hosts); the gate's holds are short
    // waits on this host, timed by the monotonic clock unless a test brings its own, so a clock step cannot stretch one.
    const gateClock = clock === SYSTEM_CLOCK ? {} : { clock };
    this.#gate = new GuessGate<ThrottleKey>({ capacity: (key) => this.#capacity(key), maxWaitingPerKey: MAX_WAITING_PER_KEY, freshSpacingMs: FRESH_SPACING_MS, ...gateClock });
  }

  /**
   * How many keys the throttle holds: `counted`, names and addresses with
   * failures in their window (each table bounded by MAX_TRACKED_KEYS);
   * `active`, keys with an evaluation in flight, waiting, or closed for a delay.
   */
  get keyCounts(): { readonly counted: number; readonly active: number } {
    return { counted: Object.values(this.#tables).reduce((sum, table) => sum + table.size, 0), active: this.#gate.activeKeys };
  }

  /** A login's turn: claimed for its name once the name is known, settled with its outcome. The address counts by its group: an IPv6 address by its network. */
  turn(address: string | undefined, cancellation: Cancellation, hold: Hold): Turn {
    return new ThrottleTurn(this.#steps, address === undefined ? undefined : addressGroup(address, this.#settings.ipv6PrefixBits), cancellation, hold);
  }

  /** What a turn does with the throttle: nothing else outside this class sees its tables. */
  readonly #steps: TurnSteps = {
    keysFor: (user, address, kind) => this.#keysFor(user, address, kind),
    count: (keys) => (this.#store ? this.#countShared(this.#store, keys) : undefined),
    admit: (keys, cancellation, hold, counted) => this.#admit(keys, cancellation, hold, counted),
    settle: (keys, pass, result, kind, user, address) => this.#settle(keys, pass, result, kind, user, address),
  };

  /**
   * The keys a login is counted, delayed and gated under, address first
   * (every request takes them in that order). `user` is the row's own name,
   * or the normalised spelling of a name with no row.
   */
  #keysFor(user: string, address: string | undefined, kind: NameKind): readonly ThrottleKey[] {
    if (kind === 'has-row' && address !== undefined && this.#isOwnerAddress(user, address)) return [key('owner', ownerId(user, address))];
    const name = kind === 'not-a-name' ? key('no-row', NOT_A_NAME) : key(kind, user);
    return address === undefined ? [name] : [key('address', address), name];
  }

  /**
   * Wait for these keys' turn to evaluate a password (guess-gate.ts), on
   * this host and, with a store, on every host. The admission may name other
   * keys than asked: another host knew the address as the user's owner.
   * `counted`: the shared count a speculation started for these keys.
   */
  #admit(keys: readonly ThrottleKey[], cancellation: Cancellation, hold: Hold, counted?: Promise<SharedCount | undefined>): Admission | Promise<KeyedAdmission> {
    if (!this.#store) return this.#gate.admit(keys, cancellation, hold, this.#freshFor(keys));
    return this.#admitShared(this.#store, keys, cancellation, hold, counted ?? this.#countShared(this.#store, keys));
  }

  /** A login from a fresh address (one with no failures in the window): its claim to the name's fresh lane, which it keeps only while the address stays clean. */
  #freshFor(keys: readonly ThrottleKey[]): FreshClaim<ThrottleKey> | undefined {
    const [address, name] = keys;
    if (keys.length !== 2 || address?.table !== 'address' || name === undefined || this.#failures(address) > 0) return undefined;
    return { key: name, source: address.id, isFresh: () => this.#failures(address) === 0 };
  }

  /** The attempt counted on every host, in one round trip; for a user at an address this host does not know as theirs, asking whether another host does. */
  #countShared(store: ThrottleStore, keys: readonly ThrottleKey[]): Promise<SharedCount | undefined> {
    const [address, name] = keys;
    const owner: OwnerProbe | undefined = keys.length === 2 && address?.table === 'address' && name?.table === 'has-row' ? { user: name.key, address: address.key, key: key('owner', ownerId(name.key, address.key)) } : undefined;
    return store.count(keys, this.#settings.windowMs, owner);
  }

  /** The shared count first (started beside the lookup), then this host's gate, then, for keys already throttled, their turns on every host. */
  async #admitShared(store: ThrottleStore, asked: readonly ThrottleKey[], cancellation: Cancellation, hold: Hold, counted: Promise<SharedCount | undefined>): Promise<KeyedAdmission> {
    const count = await counted;
    const keys = count?.ownerKnown ? this.#ownerKeys(asked) : asked;
    const fresh = this.#freshFor(keys);
    const pending = this.#gate.admit(keys, cancellation, hold, fresh);
    const local = pending instanceof Promise ? await pending : pending;
    if (!local.admitted) {
      count?.release();
      return local;
    }
    const reserving = count?.reserve(fresh?.isFresh() ? { throttledAt: this.#settings.afterFailures, fresh: { index: keys.indexOf(fresh.key), spacingMs: FRESH_SPACING_MS } } : { throttledAt: this.#settings.afterFailures }, cancellation);
    const reservation = reserving instanceof Promise ? await reserving : reserving;
    if (reservation === 'cancelled') {
      local.pass.release();
      return { admitted: false, why: 'cancelled' };
    }
    const pass = reservation ? new SharedPass(local.pass, reservation) : local.pass;
    return keys === asked ? { admitted: true, pass } : { admitted: true, pass, keys };
  }

  /** A user's name and address another host saw log in together: their owner key, remembered here too. */
  #ownerKeys([address, name]: readonly ThrottleKey[]): readonly ThrottleKey[] {
    this.#owners.set(ownerId(name!.key, address!.key), this.#clock.now());
    return [key('owner', ownerId(name!.key, address!.key))];
  }

  /**
   * Count an outcome under `keys` and give them back through `pass` (absent
   * for a name refused before its lookup): the delay to hold the answer,
   * after a "throttling:" line for each key that crossed the threshold. A
   * repeat (a wrong password this name already failed with, against the same
   * row: the rejected cache's answer) is held back like any failure but not
   * counted again: a phone retrying an old password is one failure, not one
   * per retry, and a guesser learns nothing from repeating a guess.
   */
  #settle(keys: readonly ThrottleKey[], pass: Pass | undefined, result: SettledAs, kind: NameKind, user: string, address: string | undefined): number {
    const failed = result !== 'success';
    const shared = pass instanceof SharedPass ? pass.failuresBefore : undefined;
    const delays = keys.map((k, i) => this.#delayOf(k, failed, shared?.[i]));
    const crossed = result === 'repeat' ? [] : this.#record(keys, failed, shared);
    if (!failed && kind === 'has-row' && address !== undefined) {
      this.#owners.set(ownerId(user, address), this.#clock.now());
      this.#store?.rememberOwnerAddress(user, address);
    }
    const holds = delays.map((d) => d?.delayMs ?? 0);
    pass?.release(holds, result === 'repeat' ? 'not-counted' : result);
    for (const crossing of crossed) this.#logCrossing(crossing, kind, user, address);
    let longest = 0;
    for (const d of delays) if (d && d.delayMs > longest) longest = d.delayMs;
    return longest;
  }

  /** One line when a name or an address crosses the threshold, for fail2ban and for people. */
  #logCrossing(crossing: ThrottleKey, kind: NameKind, user: string, address: string | undefined): void {
    const failures = this.#settings.afterFailures;
    if (crossing.table === 'address') this.#log.warn({ event: 'throttle', by: 'address', remote: address, failures }, `throttling: [remote=${escapeField(address!)}] [failures=${failures}]`);
    else if (kind !== 'not-a-name') this.#log.warn({ event: 'throttle', by: 'user', user, ...(crossing.table === 'owner' ? { remote: address } : {}), failures }, `throttling: [user=${escapeField(user)}] [failures=${failures}]`);
  }

  /** Count one outcome: a failure against every key, a success starts its name over (never its address). `sharedBefore`: each key's failures on every host before this one, when a store said. */
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

  #delayOf(k: ThrottleKey, failed: boolean, sharedBefore?: number): Delay | undefined {
    if (!failed && k.table !== 'address') return undefined;
    const failures = Math.max(this.#failures(k), sharedBefore ?? 0);
    if (failures < this.#settings.afterFailures) return undefined;
    const ceiling = Math.min(this.#settings.maxDelayMs, FIRST_DELAY_MS * 2 ** Math.min(30, failures - this.#settings.afterFailures));
    const delayMs = Math.round(ceiling / 2 + (this.#clock.random() * ceiling) / 2);
    return { delayMs, failures };
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



function ownerId(user: string, address: string): string {
  return `${user}\u0000${address}`;
}



/**
 * A turn on this host and a reservation in the shared store: released with
 * the outcome, it settles the reservation with it; released without one (a
 * temporary failure, a client that left, a turn moved to another name), the
 * attempt is taken back from the shared counts.
 */
class SharedPass implements Pass {
  readonly #local: GatePass;
  readonly #reservation: SharedReservation;

  constructor(local: GatePass, reservation: SharedReservation) {
    this.#local = local;
    this.#reservation = reservation;
  }

  /** Each key's failures on every host before this attempt. */
  get failuresBefore(): readonly number[] {
    return this.#reservation.failuresBefore;
  }

  release(holdMs: readonly number[] = [], outcome: SharedOutcome = 'not-counted'): void {
    this.#reservation.settle(outcome, holdMs);
    this.#local.release(holdMs);
  }
}
