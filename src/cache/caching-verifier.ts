/**
 * The never-stale caches as one layer around the verifier, so the login path
 * asks one question ("does this password match this row?") and the caching is
 * not woven into it. Both caches are keyed by the row itself (the stored value
 * and the scheme it is read with), so a changed row matches no entry and a
 * password change, a new mailbox or a reactivation takes effect at the next
 * login:
 *   - verified: the last password that matched the row skips the hash;
 *   - rejected: the last few passwords that failed against the row (or
 *     against no usable row at all) skip the hash too, and still fail.
 * The answer is always the one the hash would give. Both are sized by
 * --verify-cache; 0 makes this a plain pass-through.
 */
import { candidatesKey, verifyCandidates, type CandidatesVerdict } from '../crypt/candidates.js';
import type { DefaultScheme } from '../crypt/default-scheme.js';
import type { Verifier, VerifyOptions } from '../crypt/verifier.js';
import type { PasswordDigest, PasswordDigester } from './password-digest.js';
import { RejectedPasswordCache } from './rejected-cache.js';
import { VerifiedPasswordCache } from './verified-cache.js';

/** The values the lookup found (one, usually), and how unprefixed values among them are read. */
export interface StoredPassword {
  readonly candidates: readonly string[];
  readonly defaultScheme: DefaultScheme | undefined;
}

/** A verdict, and which cache gave it when one did (the hash did not run). */
export type CheckedVerdict = CandidatesVerdict & { readonly cache?: 'verified' | 'rejected' };

/** What the login path needs from password checking; this module's class is the daemon's. */
export interface PasswordCheck {
  /** Does `password` match one of the row's values, and which? A cache's answer comes without a promise. */
  check(user: string, row: StoredPassword, password: Buffer, options: VerifyOptions): CheckedVerdict | Promise<CheckedVerdict>;
  /**
   * There is no usable row: spend the time a check would take, so timing does
   * not tell which names exist. Says whether the rejected cache spared it.
   */
  checkNoRow(user: string, password: Buffer, options: VerifyOptions): { readonly cache?: 'rejected' } | Promise<{ readonly cache?: 'rejected' }>;
  /** Forget every remembered password (SIGHUP). */
  clear(): void;
}

const NOT_CACHED = Object.freeze({});
const FROM_REJECTED_CACHE = Object.freeze({ cache: 'rejected' as const });

export class CachingVerifier implements PasswordCheck {
  readonly #verifier: Verifier;
  readonly #digester: PasswordDigester;
  readonly #verified: VerifiedPasswordCache | undefined;
  readonly #rejected: RejectedPasswordCache | undefined;

  /** `entries` sizes each cache; 0 turns both off. */
  constructor(verifier: Verifier, entries: number, digester: PasswordDigester) {
    this.#verifier = verifier;
    this.#digester = digester;
    this.#verified = entries > 0 ? new VerifiedPasswordCache(entries) : undefined;
    this.#rejected = entries > 0 ? new RejectedPasswordCache(entries) : undefined;
  }

  check(user: string, row: StoredPassword, password: Buffer, options: VerifyOptions): CheckedVerdict | Promise<CheckedVerdict> {
    const verified = this.#verified;
    const rejected = this.#rejected;
    if (!verified || !rejected) return verifyCandidates(this.#verifier, password, row.candidates, options);
    // The caches know a set of values by one string: a changed value, an app password more or less, is another set.
    const against = { stored: candidatesKey(row.candidates), defaultScheme: row.defaultScheme };
    const digest = this.#digester.once(password);
    const matchedBefore = verified.lookup(user, against.stored, row.defaultScheme, digest);
    if (matchedBefore !== undefined) return { status: 'match', scheme: matchedBefore.scheme, matched: matchedBefore.matched, cache: 'verified' };
    const failedBefore = rejected.lookup(user, against, digest);
    if (failedBefore) return { status: 'mismatch', scheme: failedBefore.scheme ?? 'unknown', cache: 'rejected' };
    return this.#verifyAndRemember(user, row, against, password, digest, options, verified, rejected);
  }

  async #verifyAndRemember(
    user: string,
    row: StoredPassword,
    against: { readonly stored: string; readonly defaultScheme: DefaultScheme | undefined },
    password: Buffer,
    digest: PasswordDigest,
    options: VerifyOptions,
    verified: VerifiedPasswordCache,
    rejected: RejectedPasswordCache,
  ): Promise<CandidatesVerdict> {
    const verdict = await verifyCandidates(this.#verifier, password, row.candidates, options);
    if (verdict.status === 'match') verified.remember(user, against.stored, row.defaultScheme, digest, verdict);
    else if (verdict.status === 'mismatch') rejected.remember(user, against, digest, verdict.scheme);
    return verdict;
  }

  checkNoRow(user: string, password: Buffer, options: VerifyOptions): { readonly cache?: 'rejected' } | Promise<{ readonly cache?: 'rejected' }> {
    const rejected = this.#rejected;
    if (!rejected) return this.#verifier.verifyDummy(password, options).then(() => NOT_CACHED);
    const digest = this.#digester.once(password);
    if (rejected.lookup(user, 'no-usable-row', digest)) return FROM_REJECTED_CACHE;
    return this.#verifier.verifyDummy(password, options).then(() => {
      rejected.remember(user, 'no-usable-row', digest, undefined);
      return NOT_CACHED;
    });
  }

  clear(): void {
    this.#verified?.clear();
    this.#rejected?.clear();
  }
}
