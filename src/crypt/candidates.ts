/**
 * A password against every value a login may match (its password and app
 * passwords), as one verdict. Every value is checked, whether or not an
 * earlier one matched, so the time a login takes does not tell which one did.
 */
import type { Verdict, Verifier, VerifyOptions } from './verifier.js';

/**
 * A match says which values matched, by position (several can: the same
 * password twice). A verdict that decides nothing (a full queue, a client
 * that left) says `evaluated` when another value was checked all the same:
 * the guess was tried, and the throttle counts it.
 */
export type CandidatesVerdict =
  | Exclude<Verdict, { readonly status: 'match' | 'overloaded' | 'abandoned' }>
  | (Extract<Verdict, { readonly status: 'overloaded' | 'abandoned' }> & { readonly evaluated?: true })
  | { readonly status: 'match'; readonly scheme: string; readonly matched: readonly number[] };

const FIRST = Object.freeze([0]);

export async function verifyCandidates(verifier: Verifier, password: Buffer, values: readonly string[], options: VerifyOptions): Promise<CandidatesVerdict> {
  if (values.length === 1) {
    const verdict = await verifier.verify(password, values[0]!, options);
    return verdict.status === 'match' ? { status: 'match', scheme: verdict.scheme, matched: FIRST } : verdict;
  }
  const verdicts = await Promise.all(values.map((value) => verifier.verify(password, value, options)));
  return combine(verdicts);
}

type Checked = Extract<Verdict, { readonly status: 'mismatch' | 'locked' }>;
type Undecided = Extract<Verdict, { readonly status: 'overloaded' | 'abandoned' }>;
type Unverifiable = Extract<Verdict, { readonly status: 'unsupported' | 'malformed' | 'over-ceiling' }>;

/**
 * Every value's verdict as one, when none matched:
 *   - a value was checked and did not match (mismatch, or a lock marker):
 *     that is the answer, a "no", whatever the other values were. A value the
 *     daemon cannot read (an unknown scheme, a damaged string, over a cost
 *     ceiling) can never match, so it cannot turn a checked guess into a
 *     "try again later", which the throttle would not count: that would make
 *     every guess free and the right one plain to see;
 *   - unless another value could not be checked now (a full queue, a client
 *     that left): it might have matched, so no "no", but the guess was tried
 *     (evaluated) and counts;
 *   - nothing checked: the value that could not be checked now, else the one
 *     the configuration must fix.
 */
export function combine(verdicts: readonly Verdict[]): CandidatesVerdict {
  const matched = verdicts.flatMap((verdict, index) => (verdict.status === 'match' ? [index] : []));
  if (matched.length > 0) return { status: 'match', scheme: verdicts[matched[0]!]!.scheme, matched };
  const checked = verdicts.filter((verdict): verdict is Checked => verdict.status === 'mismatch' || verdict.status === 'locked');
  const undecided = verdicts.find((verdict): verdict is Undecided => verdict.status === 'overloaded' || verdict.status === 'abandoned');
  if (checked.length > 0) {
    if (undecided) return Object.assign({}, undecided, { evaluated: true as const });
    // A lock marker says more than a mismatch: the account is off.
    return checked.find((verdict) => verdict.status === 'locked') ?? checked[0]!;
  }
  return undecided ?? (verdicts[0] as Unverifiable);
}

/**
 * One string per set of values, for the caches' "is the row unchanged?": the
 * value itself for the usual single one, and for several a form no single
 * stored value takes (NUL first, each value after its length).
 */
export function candidatesKey(values: readonly string[]): string {
  if (values.length === 1) return values[0]!;
  let key = '\u0000';
  for (const value of values) key += `${value.length}:${value}`;
  return key;
}
