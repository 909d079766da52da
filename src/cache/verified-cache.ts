/**
 * The cache that is never stale. Per user it remembers the stored hash (or
 * the key of the set of values: a password and app passwords) and keyed
 * digests of the last few passwords that verified against it, one per device. Every login
 * still reads the row (cheap on a pooled, prepared connection); only the
 * expensive hash is skipped, and only when the row is unchanged and the
 * digest matches. A password change, a deactivation or a deleted mailbox
 * takes effect at the very next login, because they change or remove the row.
 */
import type { DefaultScheme } from '../crypt/default-scheme.js';
import type { LRUCache } from 'lru-cache';
import { growingLru } from '../common/growing-lru.js';
import type { Digest, PasswordDigest } from './password-digest.js';

interface Entry {
  /** The stored value, or the key of the set of values (crypt/candidates.ts). */
  readonly stored: string;
  readonly defaultScheme: DefaultScheme | undefined;
  /** Newest last; at most PASSWORDS_PER_USER: a password and app passwords, each on its own device. */
  readonly matches: Array<{ readonly digest: Digest; readonly match: RememberedMatch }>;
}

/** What the hash said when the password matched: the scheme, and which of the values matched. */
export interface RememberedMatch {
  readonly scheme: string;
  readonly matched: readonly number[];
}

/** A phone on an app password, a laptop on another, a webmail on the main one. */
export const MATCHES_PER_USER = 3;

export class VerifiedPasswordCache {
  readonly #entries: LRUCache<string, Entry>;

  constructor(maxEntries: number) {
    this.#entries = growingLru(maxEntries);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The match as it was when this password verified against exactly this value (or set of values) before. */
  lookup(user: string, stored: string, defaultScheme: DefaultScheme | undefined, password: PasswordDigest): RememberedMatch | undefined {
    const entry = this.#entries.get(user);
    if (!entry || entry.stored !== stored || entry.defaultScheme !== defaultScheme) return undefined;
    // Every slot is compared, so the time does not say which one matched.
    let found: RememberedMatch | undefined;
    for (const slot of entry.matches) if (password.equals(slot.digest)) found = slot.match;
    return found;
  }

  remember(user: string, stored: string, defaultScheme: DefaultScheme | undefined, password: PasswordDigest, match: RememberedMatch): void {
    const slot = { digest: password.value, match: { scheme: match.scheme, matched: match.matched } };
    const entry = this.#entries.get(user);
    if (!entry || entry.stored !== stored || entry.defaultScheme !== defaultScheme) {
      this.#entries.set(user, { stored, defaultScheme, matches: [slot] });
      return;
    }
    const same = entry.matches.findIndex((known) => password.equals(known.digest));
    if (same >= 0) entry.matches.splice(same, 1);
    entry.matches.push(slot);
    if (entry.matches.length > MATCHES_PER_USER) entry.matches.shift();
  }

  clear(): void {
    this.#entries.clear();
  }
}
