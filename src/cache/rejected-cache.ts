/**
 * The verified cache's mirror for failures, and never stale for the same
 * reason: a password that did not match a stored value will not match that
 * same value next time either. Per user it remembers the stored value (or
 * that there was no usable row) and keyed digests of the last few passwords
 * that failed against it. Every login still reads the row; a repeat of one of
 * those passwords against the unchanged row skips only the hash, so a phone
 * retrying an old password every few minutes costs a lookup, not an md5crypt.
 * A changed row (new password, new account) matches no entry.
 *
 * Why unknown users are remembered too: a failed login for an unknown user
 * still spends a dummy hash so that it takes as long as a wrong password. If
 * only real users' failures were remembered, a repeated guess would come back
 * fast for a real user and slow for an unknown one, and timing would tell
 * which names exist.
 *
 * It is its own LRU, apart from the verified cache: failures come from anyone,
 * and a flood of made-up names must not push out the successes real users need.
 */
import type { DefaultScheme } from '../crypt/default-scheme.js';
import type { LRUCache } from 'lru-cache';
import { growingLru } from '../common/growing-lru.js';
import type { Digest, PasswordDigest } from './password-digest.js';

/** What the lookup found, as far as this cache cares: a stored value, or no usable row. */
export type RejectedAgainst = { readonly stored: string; readonly defaultScheme: DefaultScheme | undefined } | 'no-usable-row';

interface Entry {
  /** The stored value, or null when there was no usable row. Flat, not the caller's object: one object per user. */
  readonly stored: string | null;
  readonly defaultScheme: DefaultScheme | undefined;
  /** The scheme the verifier named for the stored value, for the log line. */
  readonly scheme: string | undefined;
  /** Newest last; at most PASSWORDS_PER_USER. */
  readonly digests: Digest[];
}

/** A phone, a laptop and a tablet, each with its own old password. */
export const PASSWORDS_PER_USER = 3;

function sameAgainst(entry: Entry, against: RejectedAgainst): boolean {
  if (against === 'no-usable-row') return entry.stored === null;
  return entry.stored === against.stored && entry.defaultScheme === against.defaultScheme;
}

export class RejectedPasswordCache {
  readonly #entries: LRUCache<string, Entry>;

  constructor(maxEntries: number) {
    this.#entries = growingLru(maxEntries);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Whether this password failed against exactly this row before; with the scheme then named. */
  lookup(user: string, against: RejectedAgainst, password: PasswordDigest): { readonly scheme: string | undefined } | undefined {
    const entry = this.#entries.get(user);
    if (!entry || !sameAgainst(entry, against)) return undefined;
    // Every slot is compared, so the time does not say which one matched.
    let matched = false;
    for (const digest of entry.digests) matched = password.equals(digest) || matched;
    return matched ? { scheme: entry.scheme } : undefined;
  }

  remember(user: string, against: RejectedAgainst, password: PasswordDigest, scheme: string | undefined): void {
    const entry = this.#entries.get(user);
    if (!entry || !sameAgainst(entry, against)) {
      const row = against === 'no-usable-row' ? { stored: null, defaultScheme: undefined } : against;
      this.#entries.set(user, { stored: row.stored, defaultScheme: row.defaultScheme, scheme, digests: [password.value] });
      return;
    }
    entry.digests.push(password.value);
    if (entry.digests.length > PASSWORDS_PER_USER) entry.digests.shift();
  }

  clear(): void {
    this.#entries.clear();
  }
}
