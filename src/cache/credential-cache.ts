/**
 * saslauthd's -c cache, for sites that want every last bit of speed: a
 * recent success for the same login, realm and service skips the database
 * altogether. The trade-off is saslauthd's: after a password change or a
 * deactivation the old password keeps working until its entry expires
 * (-t seconds). Only successes are cached, as keyed digests, never as MD5.
 */
import { LRUCache } from 'lru-cache';
import type { Digest, PasswordDigester } from './password-digest.js';

interface Entry {
  readonly digest: Digest;
  readonly expiresAt: number;
}

/** Recent successes by login, realm and service (saslauthd -c, and the outage cache). */
export interface RecentSuccesses {
  hit(login: string, realm: string, service: string, password: Buffer): boolean;
  remember(login: string, realm: string, service: string, password: Buffer): void;
}

export class CredentialCache implements RecentSuccesses {
  readonly #entries: LRUCache<string, Entry>;
  readonly #digester: PasswordDigester;
  readonly #ttlMs: number;

  constructor(maxEntries: number, ttlMs: number, digester: PasswordDigester) {
    this.#entries = new LRUCache({ max: maxEntries });
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

  hit(login: string, realm: string, service: string, password: Buffer): boolean {
    const key = this.#key(login, realm, service);
    const entry = this.#entries.get(key);
    if (!entry) return false;
    if (entry.expiresAt <= Date.now()) {
      this.#entries.delete(key);
      return false;
    }
    return this.#digester.matches(password, entry.digest);
  }

  remember(login: string, realm: string, service: string, password: Buffer): void {
    this.#entries.set(this.#key(login, realm, service), { digest: this.#digester.digest(password), expiresAt: Date.now() + this.#ttlMs });
  }

  clear(): void {
    this.#entries.clear();
  }
}
