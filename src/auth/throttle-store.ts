/**
 * Where the throttle's counts live when several mail hosts share them
 * (--throttle-store). Without a store each daemon counts alone, and a guesser
 * spreading guesses over N hosts behind a balancer gets N budgets; with one,
 * every host counts the same failures and takes the same turns.
 *
 * A store is never in a login's way: every call has a deadline, and a store
 * that cannot answer in time says so (undefined), after which the throttle
 * counts on this host alone until the store answers again.
 */
import type { Cancellation } from '../common/cancellation.js';

/** A throttle key as the store sees it: which table, and an id unique across tables (throttle.ts's ThrottleKey). */
export interface SharedKey {
  readonly table: 'has-row' | 'no-row' | 'address' | 'owner';
  readonly id: string;
}

/** How an evaluation that held a reservation ended. */
export type SharedOutcome = 'failure' | 'success' | 'not-counted';

/** One login's place in the shared counts, taken before its password is evaluated. */
export interface SharedReservation {
  /**
   * Failures each key had on every host before this attempt. Attempts still
   * being evaluated elsewhere count as failures until they settle, so
   * guesses fired at several hosts at once cannot all be "the first".
   */
  readonly failuresBefore: readonly number[];
  /**
   * A failure stays counted; a success starts a name over and takes the
   * attempt back from an address; not-counted (a temporary failure, a client
   * that left) takes it back everywhere. `holdMs[i]` closes the i-th key to
   * every host for the delay the outcome earned. Never waits.
   */
  settle(outcome: SharedOutcome, holdMs: readonly number[]): void;
}

/** The throttle's settings a reservation follows (a reload may change them). */
export interface ReserveLimits {
  /** A key with this many failures or more is throttled: one evaluation at a time across every host. */
  readonly throttledAt: number;
  /**
   * The key (by position) a login from a fresh address may take by the fresh
   * lane (guess-gate.ts) when its turn is not free: one such login per
   * `spacingMs` across every host.
   */
  readonly fresh?: { readonly index: number; readonly spacingMs: number };
}

/** Which key counts when another host saw this address log in as this user: the owner key, alone. */
export interface OwnerProbe {
  /** The user and address, as the owner marker's digest is made. */
  readonly user: string;
  readonly address: string;
  /** The owner key counted instead of the asked ones when the marker is there. */
  readonly key: SharedKey;
}

/** One attempt counted on every host (one round trip), before it may be evaluated. */
export interface SharedCount {
  /** True when another host knew the address as the user's: the owner key alone was counted. */
  readonly ownerKnown: boolean;
  /** Failures each counted key had on every host before this attempt (in-flight attempts included). */
  readonly failuresBefore: readonly number[];
  /**
   * For keys already throttled, wait for the key's turn across every host
   * (more round trips, on the throttled path only); for the rest, nothing to
   * wait for: the reservation at once, with no promise (most logins).
   * 'cancelled': the client stopped waiting; undefined: the store could not
   * answer in time (the attempt is then taken back: count locally).
   */
  reserve(limits: ReserveLimits, cancellation: Cancellation): SharedReservation | Promise<SharedReservation | 'cancelled' | undefined>;
  /** Never used (the login went another way): take the attempt back everywhere. Never waits. */
  release(): void;
}

export interface ThrottleStore {
  /**
   * Count this attempt under every key, in one round trip that may start
   * before the login knows it will be evaluated (beside its lookup). With an
   * owner probe, the owner key alone is counted when some host saw the
   * address log in as the user. Undefined: the store could not answer in
   * time, count locally.
   */
  count(keys: readonly SharedKey[], windowMs: number, owner?: OwnerProbe): Promise<SharedCount | undefined>;
  /** Tell every host this address logged in as this user. Never waits. */
  rememberOwnerAddress(user: string, address: string): void;
  close(): Promise<void>;
}
