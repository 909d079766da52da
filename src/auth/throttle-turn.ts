/**
 * A login's Turn at the throttle (throttle.ts), and the keys it is counted
 * under: what a login does with the throttle, from the name it expects before
 * its lookup to the outcome it settles with. The throttle's tables, its gate
 * and its store stay behind TurnSteps.
 */
import type { Cancellation } from '../common/cancellation.js';
import type { Hold } from '../protocol/answering.js';
import { ErrorCodes } from '../errors.js';
import type { Admission, GateRefusal } from './guess-gate.js';
import type { Outcome } from './outcome.js';
import type { SharedCount, SharedOutcome } from './throttle-store.js';

/**
 * What the failing name was, which decides the table it is counted in, so
 * that names anyone can make up cannot push a real user's count out:
 *   has-row     the lookup found the user's row
 *   no-row      the lookup found none (or refused it): made-up names land here
 *   not-a-name  refused before any lookup (invalid text): one shared count
 */
export type NameKind = 'has-row' | 'no-row' | 'not-a-name';

export type Table = 'has-row' | 'no-row' | 'address' | 'owner';

/** One counter of the throttle. */
export interface ThrottleKey {
  readonly table: Table;
  readonly key: string;
  readonly id: string;
}

/**
 * A login's place at the throttle, from before its password is evaluated to
 * its answer. Claimed for a name (and again for the row's own name, which
 * keeps it when the keys are the same), then settled once with the outcome.
 */
export interface Turn {
  /**
   * The lookup about to run will probably find this name's row: with a
   * shared store, the attempt's count (its one round trip) starts now,
   * beside the lookup, and a claim under the same keys takes it over; any
   * other claim, or none, takes it back.
   */
  expect(name: string): void;
  /**
   * Wait for this name's turn to evaluate a password. Undefined when it is
   * taken (at once, with no promise: the usual case); a temporary-failure
   * outcome when the login cannot have one (too many wait already, no room
   * to hold its answer, the client left). A name refused before its lookup
   * ('not-a-name') evaluates nothing, so it takes no turn and waits for none.
   */
  claim(name: string, kind: NameKind): Outcome | undefined | Promise<Outcome | undefined>;
  /**
   * Count the outcome under the keys claimed, give them back (each closed to
   * newcomers for the delay it earned), log a key crossing the threshold,
   * and say how long to hold the answer. A temporary failure counts nothing
   * and waits for nothing (our trouble, not the client's) unless it says it
   * counts as a guess (outcome.ts). `user` is the name the log line shows.
   */
  settle(outcome: Outcome, user: string): number;
}

/** The turn a login takes when no throttle is configured. */
export const NO_TURN: Turn = Object.freeze({ expect: () => undefined, claim: () => undefined, settle: () => 0 });

/** A turn at this host's gate, and with a store the reservation on every host: given back with the outcome it was settled with. */
export interface Pass {
  release(holdMs?: readonly number[], outcome?: SharedOutcome): void;
}

const REFUSALS: Readonly<Record<GateRefusal, Outcome>> = Object.freeze({
  cancelled: Object.freeze({ result: 'temporary-failure', code: ErrorCodes.ABANDONED, reason: 'nobody waits for the answer any more' }),
  'queue-full': Object.freeze({ result: 'temporary-failure', code: ErrorCodes.THROTTLE_BUSY, reason: 'too many guesses for this user or address already wait for their turn' }),
  'no-room': Object.freeze({ result: 'temporary-failure', code: ErrorCodes.THROTTLE_BUSY, reason: 'no room left to hold answers for throttled users and addresses' }),
});

/** How an outcome is counted: a failure, a success, or the repeat of a failure already counted. */
export type SettledAs = 'failure' | 'success' | 'repeat';

/** An admission, with the keys it was taken under when they differ from the ones asked for. */
export type KeyedAdmission = Admission & { readonly keys?: readonly ThrottleKey[] };

export interface TurnSteps {
  keysFor(user: string, address: string | undefined, kind: NameKind): readonly ThrottleKey[];
  /** The shared count for these keys, started now; undefined without a store. */
  count(keys: readonly ThrottleKey[]): Promise<SharedCount | undefined> | undefined;
  admit(keys: readonly ThrottleKey[], cancellation: Cancellation, hold: Hold, counted?: Promise<SharedCount | undefined>): Admission | Promise<KeyedAdmission>;
  settle(keys: readonly ThrottleKey[], pass: Pass | undefined, result: SettledAs, kind: NameKind, user: string, address: string | undefined): number;
}

/** One login's turn (see Turn). */
export class ThrottleTurn implements Turn {
  readonly #throttle: TurnSteps;
  readonly #address: string | undefined;
  readonly #cancellation: Cancellation;
  readonly #hold: Hold;
  #keys: readonly ThrottleKey[] | undefined;
  #kind: NameKind = 'not-a-name';
  #pass: Pass | undefined;
  /** The shared count expect() started, and the keys it counts. */
  #expected: { readonly keys: readonly ThrottleKey[]; readonly counted: Promise<SharedCount | undefined> } | undefined;

  constructor(throttle: TurnSteps, address: string | undefined, cancellation: Cancellation, hold: Hold) {
    this.#throttle = throttle;
    this.#address = address;
    this.#cancellation = cancellation;
    this.#hold = hold;
  }

  expect(name: string): void {
    if (this.#expected || this.#keys) return;
    const keys = this.#throttle.keysFor(name, this.#address, 'has-row');
    const counted = this.#throttle.count(keys);
    if (counted) this.#expected = { keys, counted };
  }

  claim(name: string, kind: NameKind): Outcome | undefined | Promise<Outcome | undefined> {
    const keys = this.#throttle.keysFor(name, this.#address, kind);
    // The row's own name under the keys already held: the turn is kept.
    if (this.#pass && this.#keys && sameKeys(keys, this.#keys)) return undefined;
    this.#pass?.release();
    this.#pass = undefined;
    this.#keys = keys;
    this.#kind = kind;
    const expected = this.#expected;
    this.#expected = undefined;
    const counted = expected && kind !== 'not-a-name' && sameKeys(keys, expected.keys) ? expected.counted : undefined;
    if (expected && !counted) takeBack(expected.counted);
    if (kind === 'not-a-name') return undefined;
    const admission = this.#throttle.admit(keys, this.#cancellation, this.#hold, counted);
    return admission instanceof Promise ? admission.then((late) => this.#admitted(late)) : this.#admitted(admission);
  }

  settle(outcome: Outcome, user: string): number {
    const keys = this.#keys;
    const pass = this.#pass;
    this.#keys = undefined;
    this.#pass = undefined;
    // Expected, never claimed (the backend could not answer): the count is taken back.
    if (this.#expected) takeBack(this.#expected.counted);
    this.#expected = undefined;
    if (keys === undefined || (outcome.result === 'temporary-failure' && !outcome.countsAsGuess)) {
      pass?.release();
      return 0;
    }
    const result: SettledAs = outcome.result === 'success' ? 'success' : outcome.cache === 'rejected' ? 'repeat' : 'failure';
    return this.#throttle.settle(keys, pass, result, this.#kind, user, this.#address);
  }

  #admitted(admission: KeyedAdmission): Outcome | undefined {
    if (!admission.admitted) {
      this.#keys = undefined;
      return REFUSALS[admission.why];
    }
    this.#pass = admission.pass;
    // Another host may have known the address as the user's: the turn is then under the keys it was taken with.
    if (admission.keys) this.#keys = admission.keys;
    return undefined;
  }
}

export function key(table: Table, name: string): ThrottleKey {
  return { table, key: name, id: `${table}\u0000${name}` };
}

/** A shared count nobody used: taken back once it has arrived. */
function takeBack(counted: Promise<SharedCount | undefined>): void {
  void counted.then((count) => count?.release());
}

function sameKeys(a: readonly ThrottleKey[], b: readonly ThrottleKey[]): boolean {
  return a.length === b.length && a.every((k, i) => k.id === b[i]!.id);
}
