/**
 * The cache that is never stale. Per user it remembers the stored hash and a
 * keyed digest of the last password that verified against it. Every login
 * still reads the row (cheap on a pooled, prepared connection); only the
 * expensive hash is skipped, and only when the row is unchanged and the
 * digest matches. A password change, a deactivation or a deleted mailbox
 * takes effect at the very next login, because they change or remove the row.
 */
import type { DefaultScheme } from '../crypt/default-scheme.js';
import { LRUCache } from 'lru-cache';
import type { Digest, PasswordDigest } from './password-digest.js';

interface Entry {
  /** The stored value, or the key of the set of values (crypt/candidates.ts). */
  readonly stored: string;
  readonly defaultScheme: DefaultScheme | undefined;
  readonly digest: Digest;
  readonly match: RememberedMatch;
}

/** What the hash said when the password matched: the scheme, and which of the values matched. */
export interface RememberedMatch {
  readonly scheme: string;
  readonly matched: readonly number[];
}

export class VerifiedPasswordCache {
  readonly #entries: LRUCache<string, Entry>;

  constructor(maxEntries: number) {
    this.#entries = new LRUCache({ max: maxEntries });
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The match as it was when this password verified against exactly this value (or set of values) before. */
  lookup(user: string, stored: string, defaultScheme: DefaultScheme | undefined, password: PasswordDigest): RememberedMatch | undefined {
    const entry = this.#entries.get(user);
    if (!entry || entry.stored !== stored || entry.defaultScheme !== defaultScheme) return undefined;
    return password.equals(entry.digest) ? entry.match : undefined;
  }

  remember(user: string, stored: string, defaultScheme: DefaultScheme | undefined, password: PasswordDigest, match: RememberedMatch): void {
    this.#entries.set(user, { stored, defaultScheme, digest: password.value, match: { scheme: match.scheme, matched: match.matched } });
  }

  clear(): void {
    this.#entries.clear();
  }
}
