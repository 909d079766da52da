/**
 * saslauthd's -c cache, for sites that want every last bit of speed: a
 * recent success for the same login, realm and service skips the database
 * altogether. The trade-off is saslauthd's: after a password change or a
 * deactivation the old password keeps working until its entry expires
 * (-t seconds). Only successes are cached, as keyed digests, never as MD5.
 */
import type { LRUCache } from 'lru-cache';
import { growingLru } from '../common/growing-lru.js';
import type { Digest, PasswordDigester } from './password-digest.js';

/** A success remembered for a login, realm and service. */
export interface RecentSuccess {
  /** The row's own name the login was for: the throttle gates the check under it. */
  readonly user: string;
  readonly digest: Digest;
  readonly expiresAt: number;
}

/**
 * Recent successes by login, realm and service (saslauthd -c, and the outage
 * cache). Finding the entry and checking the password are two steps, so the
 * check can wait for the throttle's turn like any other evaluation.
 */
export interface RecentSuccesses {
  recall(login: string, realm: string, service: string): RecentSuccess | undefined;
  confirms(entry: RecentSuccess, password: Buffer): boolean;
  remember(login: string, realm: string, service: string, password: Buffer, user: string): void;
}

export class CredentialCache implements RecentSuccesses {
  readonly #entries: LRUCache<string, RecentSuccess>;
  readonly #digester: PasswordDigester;
  readonly #ttlMs: number;

  constructor(maxEntries: number, ttlMs: number, digester: PasswordDigester) {
    this.#entries = growingLru(maxEntries);
    this.#ttlMs = ttlMs;
    this.#digester = digester;
  }

  get size(): number {
    return this.#entries.size;
  }

  #key(login: string, realm: string, service: string): string {
    // NUL cannot occur in these names (refused before they get here), so keys cannot collide.
    return `${login}\u0000${realm}\u0000${service}`;
  }

  recall(login: string, realm: string, service: string): RecentSuccess | undefined {
    const key = this.#key(login, realm, service);
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  confirms(entry: RecentSuccess, password: Buffer): boolean {
    return entry.expiresAt > Date.now() && this.#digester.matches(password, entry.digest);
  }

  /** Also a test's shorthand: recall and confirm in one. */
  hit(login: string, realm: string, service: string, password: Buffer): boolean {
    const entry = this.recall(login, realm, service);
    return entry !== undefined && this.confirms(entry, password);
  }

  remember(login: string, realm: string, service: string, password: Buffer, user: string = login): void {
    this.#entries.set(this.#key(login, realm, service), { user, digest: this.#digester.digest(password), expiresAt: Date.now() + this.#ttlMs });
  }

  clear(): void {
    this.#entries.clear();
  }
}
