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
  /** A count is forgotten after this long without an attempt. */
  readonly windowMs: number;
  /**
   * The key (by position) a login from a fresh address may take by the fresh
   * lane (guess-gate.ts) when its turn is not free: one such login per
   * `spacingMs` across every host.
   */
  readonly fresh?: { readonly index: number; readonly spacingMs: number };
}

export interface ThrottleStore {
  /**
   * Count this attempt under every key and, for keys already throttled,
   * wait for the key's turn across every host. 'cancelled': the client
   * stopped waiting; undefined: the store could not answer in time, count locally.
   */
  reserve(keys: readonly SharedKey[], limits: ReserveLimits, cancellation: Cancellation): Promise<SharedReservation | 'cancelled' | undefined>;
  /** Whether some host saw this address log in as this user recently; undefined when the store cannot say in time. */
  isOwnerAddress(user: string, address: string): Promise<boolean | undefined>;
  /** Tell every host this address logged in as this user. Never waits. */
  rememberOwnerAddress(user: string, address: string): void;
  close(): Promise<void>;
}
