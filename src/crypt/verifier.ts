/**
 * Whether a password matches a stored value: the plan (plan.ts) says how,
 * and this runs it, inline or on its lane. Damaged values and unknown schemes
 * are a verdict of their own, never a crash; a full queue or a client that
 * went away is no verdict at all.
 */
import type { DefaultScheme } from './default-scheme.js';
import type { LaneOutcome } from './lane.js';
import { DummyChoice } from './dummy-choice.js';
import { dummyValue, isRefusal, plan, type Plan } from './plan.js';
import { verifyCryptTask, type CostCeilings } from './schemes/crypt-strings.js';
import type { VerifyPools } from './verify-pool.js';
import type { Cancellation } from '../common/cancellation.js';

export type Verdict =
  | { readonly status: 'match'; readonly scheme: string }
  | { readonly status: 'mismatch'; readonly scheme: string }
  /** The stored value is in a scheme we cannot verify: a configuration problem of that row, never a crash. */
  | { readonly status: 'unsupported'; readonly scheme: string; readonly reason: string }
  /** The stored value is in a scheme we read but does not parse (truncated, damaged). */
  | { readonly status: 'malformed'; readonly scheme: string; readonly reason: string }
  /** The stored value is a lock marker: the account is off. */
  | { readonly status: 'locked'; readonly scheme: string; readonly reason: string }
  /** We could not decide now (a temporary failure): the pool's queue was full. */
  | { readonly status: 'overloaded'; readonly scheme: string }
  /** Nobody waits for the answer any more (the client went away or its deadline passed) while the check was queued. */
  | { readonly status: 'abandoned'; readonly scheme: string }
  /** The stored value asks for more work than the cost ceilings allow: refused, never computed. */
  | { readonly status: 'over-ceiling'; readonly scheme: string; readonly reason: string };

export interface PasswordVerifierOptions {
  readonly defaultScheme: DefaultScheme;
  readonly pools: VerifyPools;
  /** The most work one stored value may ask for (default: DEFAULT_COST_CEILINGS). */
  readonly ceilings?: CostCeilings;
}

export interface VerifyOptions {
  /** Only a slow-lane check listens for it (its signal is made only then: cancellation.ts). */
  readonly cancellation?: Cancellation;
  /** Overrides the verifier's default scheme (a pam_mysql service's own crypt=). */
  readonly defaultScheme?: DefaultScheme;
}

/** What the login path needs of a verifier; PasswordVerifier is the daemon's, tests bring their own. */
export interface Verifier {
  verify(password: Buffer, stored: string, options?: VerifyOptions): Promise<Verdict>;
  /** Spend the time a real check would take, and throw the result away. */
  verifyDummy(password: Buffer, options?: VerifyOptions): Promise<void>;
}

export class PasswordVerifier implements Verifier {
  readonly #options: PasswordVerifierOptions;
  /** Generated throwaway hashes, used until the table's own kind of value is known. */
  readonly #dummies = new Map<DefaultScheme, string>();
  readonly #choice: DummyChoice;

  constructor(options: PasswordVerifierOptions) {
    this.#options = options;
    this.#choice = new DummyChoice(options.ceilings);
  }

  async verify(password: Buffer, stored: string, options: VerifyOptions = {}): Promise<Verdict> {
    const defaultScheme = options.defaultScheme ?? this.#options.defaultScheme;
    const chosen = plan(password, stored, defaultScheme, this.#options.ceilings);
    // A lock marker is decided without a hash; the time one takes is spent all the same, or a locked account would answer
    // faster than a wrong password and say which mailboxes exist and are locked.
    if (chosen.kind === 'locked') await this.verifyDummy(password, options);
    const verdict = await this.#run(chosen, password, options);
    if (verdict.status === 'match' || verdict.status === 'mismatch') this.#choice.saw(stored, chosen, defaultScheme);
    return verdict;
  }

  /** The backend's own stored values, when it can list them: the dummy becomes the most common kind among them. */
  sampleTable(values: readonly string[], defaultScheme: DefaultScheme = this.#options.defaultScheme): void {
    this.#choice.sample(values, defaultScheme);
  }

  async #run(chosen: Plan, password: Buffer, options: VerifyOptions): Promise<Verdict> {
    if (isRefusal(chosen)) return { status: chosen.kind, scheme: chosen.scheme, reason: chosen.reason };
    let outcome: boolean | undefined | LaneOutcome;
    if (chosen.kind === 'inline') outcome = chosen.check();
    // A fast-lane check takes a fraction of a millisecond: not worth an abort listener per task.
    else outcome = await this.#options.pools.lane(chosen.lane).run(chosen.task, password, chosen.lane === 'slow' ? options.cancellation?.signal : undefined);
    if (outcome === undefined) return { status: 'malformed', scheme: chosen.scheme, reason: `stored ${chosen.scheme} value is malformed (truncated or damaged)` };
    if (outcome === 'overloaded') return { status: 'overloaded', scheme: chosen.scheme };
    if (outcome === 'aborted') return { status: 'abandoned', scheme: chosen.scheme };
    return { status: outcome ? 'match' : 'mismatch', scheme: chosen.scheme };
  }

  /**
   * Spend the time a real check would, so that an unknown user answers no
   * faster than a known one: against a value of the kind most common in the
   * table (dummy-choice.ts), never one the previous request picked, or a
   * throwaway hash of the default scheme until that kind is known. The result
   * is thrown away.
   */
  async verifyDummy(password: Buffer, options: VerifyOptions = {}): Promise<void> {
    const scheme = options.defaultScheme ?? this.#options.defaultScheme;
    let dummy = this.#choice.valueFor(scheme) ?? this.#dummies.get(scheme);
    if (dummy === undefined) {
      dummy = dummyValue(scheme);
      this.#dummies.set(scheme, dummy);
    }
    await this.#run(plan(password, dummy, scheme, this.#options.ceilings), password, options);
  }
}

/**
 * The same decision on the calling thread, pool schemes included: for the
 * benchmark's single-thread figures and for offline checks, never for requests.
 */
export async function verifyOnThisThread(password: Buffer, stored: string, defaultScheme: DefaultScheme): Promise<boolean | undefined> {
  const chosen = plan(password, stored, defaultScheme);
  if (isRefusal(chosen)) return undefined;
  return chosen.kind === 'inline' ? chosen.check() : verifyCryptTask(password, chosen.task);
}

/** What a stored value is, without checking any password against it (for "saslauthd-mysql check"). */
export type StoredValueDescription =
  | { readonly supported: true; readonly scheme: string; readonly runs: 'inline' | 'fast pool' | 'slow pool' }
  | { readonly supported: false; readonly scheme: string; readonly reason: string };

export function describeStoredValue(stored: string, defaultScheme: DefaultScheme, ceilings?: CostCeilings): StoredValueDescription {
  const chosen = plan(Buffer.alloc(0), stored, defaultScheme, ceilings);
  switch (chosen.kind) {
    case 'unsupported':
    case 'malformed':
    case 'locked':
    case 'over-ceiling':
      return { supported: false, scheme: chosen.scheme, reason: chosen.reason };
    case 'inline':
      return { supported: true, scheme: chosen.scheme, runs: 'inline' };
    case 'lane':
      return { supported: true, scheme: chosen.scheme, runs: chosen.lane === 'fast' ? 'fast pool' : 'slow pool' };
  }
}

