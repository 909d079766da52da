/**
 * One login's attempt as the shared throttle's store counted it
 * (redis-throttle-store.ts): the count a login gets back before its password
 * is evaluated, and the reservation it settles with its outcome.
 */
import type { Cancellation } from '../common/cancellation.js';
import type { ReserveLimits, SharedCount, SharedKey, SharedOutcome, SharedReservation } from './throttle-store.js';

/** What a login's counted attempt asks of its store. */
export interface AttemptSteps {
  takeTurns(attempt: CountedAttempt, limits: ReserveLimits, cancellation: Cancellation): Promise<SharedReservation | 'cancelled' | undefined>;
  settle(attempt: CountedAttempt, outcome: SharedOutcome, holdMs: readonly number[]): void;
  newToken(): string;
}

/** Sent in a settle's TOKEN place when none of its steps touches a turn (the script reads it only for those). */
export const NO_TOKEN = '-';

/**
 * One login's attempt, counted on every host: its count (SharedCount) and,
 * once reserved, its reservation (SharedReservation) are this one object, so
 * a login nobody throttles costs the store no promise and no closure past its
 * count. Used once: reserved then settled, or released.
 */
export class CountedAttempt implements SharedCount, SharedReservation {
  readonly #store: AttemptSteps;
  readonly keys: readonly SharedKey[];
  readonly digests: readonly string[];
  readonly windowMs: number;
  readonly ownerKnown: boolean;
  readonly failuresBefore: readonly number[];
  /** The keys (by position) whose turn this login holds across every host. */
  readonly turns: number[] = [];
  #state: 'counted' | 'reserved' | 'done' = 'counted';
  #token: string | undefined;

  constructor(store: AttemptSteps, keys: readonly SharedKey[], digests: readonly string[], windowMs: number, ownerKnown: boolean, failuresBefore: readonly number[]) {
    this.#store = store;
    this.keys = keys;
    this.digests = digests;
    this.windowMs = windowMs;
    this.ownerKnown = ownerKnown;
    this.failuresBefore = failuresBefore;
  }

  /** This attempt's own value for the turns and holds it writes, so that it gives back only a turn it holds; made when first needed. */
  get token(): string {
    return (this.#token ??= this.#store.newToken());
  }

  reserve(limits: ReserveLimits, cancellation: Cancellation): SharedReservation | Promise<SharedReservation | 'cancelled' | undefined> {
    // Reserved or taken back already: the attempt no longer counts in the store, so this login counts locally.
    if (this.#state !== 'counted') return Promise.resolve(undefined);
    this.#state = 'reserved';
    // No key throttled yet (most logins): nothing to wait for, no round trip.
    if (limits.throttledAt <= 0 || !this.failuresBefore.some((failures) => failures >= limits.throttledAt)) return this;
    return this.#store.takeTurns(this, limits, cancellation);
  }

  release(): void {
    if (this.#state !== 'counted') return;
    this.#state = 'done';
    this.#store.settle(this, 'not-counted', []);
  }

  settle(outcome: SharedOutcome, holdMs: readonly number[]): void {
    if (this.#state !== 'reserved') return;
    this.#state = 'done';
    this.#store.settle(this, outcome, holdMs);
  }
}
