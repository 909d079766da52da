/**
 * A password against every value a login may match (its password and app
 * passwords), as one verdict. Every value is checked, whether or not an
 * earlier one matched, so the time a login takes does not tell which one did.
 */
import type { Verdict, Verifier, VerifyOptions } from './verifier.js';

/** A match says which values matched, by position (several can: the same password twice). */
export type CandidatesVerdict = Exclude<Verdict, { readonly status: 'match' }> | { readonly status: 'match'; readonly scheme: string; readonly matched: readonly number[] };

const FIRST = Object.freeze([0]);

/**
 * When no value matched, the verdict that says most: a check that could not
 * run (the client left, the queue was full) first, then a value the
 * configuration must fix, then a lock marker; a plain mismatch only when every
 * value was one.
 */
const PRECEDENCE: Readonly<Record<Exclude<Verdict['status'], 'match'>, number>> = { abandoned: 0, overloaded: 0, unsupported: 1, malformed: 1, 'over-ceiling': 1, locked: 2, mismatch: 3 };

export async function verifyCandidates(verifier: Verifier, password: Buffer, values: readonly string[], options: VerifyOptions): Promise<CandidatesVerdict> {
  if (values.length === 1) {
    const verdict = await verifier.verify(password, values[0]!, options);
    return verdict.status === 'match' ? { status: 'match', scheme: verdict.scheme, matched: FIRST } : verdict;
  }
  const verdicts = await Promise.all(values.map((value) => verifier.verify(password, value, options)));
  return combine(verdicts);
}

export function combine(verdicts: readonly Verdict[]): CandidatesVerdict {
  const matched = verdicts.flatMap((verdict, index) => (verdict.status === 'match' ? [index] : []));
  if (matched.length > 0) return { status: 'match', scheme: verdicts[matched[0]!]!.scheme, matched };
  let chosen = verdicts[0]! as Exclude<Verdict, { readonly status: 'match' }>;
  for (const verdict of verdicts as ReadonlyArray<Exclude<Verdict, { readonly status: 'match' }>>) {
    if (PRECEDENCE[verdict.status] < PRECEDENCE[chosen.status]) chosen = verdict;
  }
  return chosen;
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
