/**
 * Brute-force throttling that cannot be turned into a lockout. After a user
 * (or a client address, when the client sends saslauthd's fifth field) has
 * collected `afterFailures` definite failures within the window, answers are
 * delayed, growing from FIRST_DELAY_MS and doubling up to maxDelayMs, with
 * "equal jitter" (a random point in the upper half) so an attacker cannot
 * time around it. Nobody is ever refused because of the count.
 *
 * Which answers are delayed, and why that bounds what an attacker can do to
 * the owner:
 *   - per user: only failure answers. The owner's right password is never
 *     delayed by someone else's failures on their name (bound: 0 ms). The
 *     MTA process that asked waits out the delay, so guesses against one
 *     name cost the attacker MTA capacity, not us.
 *   - per address: every answer to that address, success included, so the
 *     timing of a reply tells the attacker nothing. Someone sharing the
 *     attacker's address waits at most maxDelayMs.
 */
import { LRUCache } from 'lru-cache';

export interface ThrottleSettings {
  /** Failures before answers are delayed; 0 turns throttling off. */
  readonly afterFailures: number;
  /** The longest delay ever added to one answer. */
  readonly maxDelayMs: number;
  /** A key's count is forgotten when it has seen no failure for this long. */
  readonly windowMs: number;
}

/** The first delay; each further failure doubles it, up to maxDelayMs. */
export const FIRST_DELAY_MS = 250;
/** Keys tracked at most (LRU): bounds memory whatever an attacker sends, at about 100 bytes a key. */
export const MAX_TRACKED_KEYS = 50_000;

interface Count {
  failures: number;
  lastFailureAt: number;
}

export interface ThrottleDecision {
  readonly delayMs: number;
  /** What the delay was earned by, and how many failures it had. */
  readonly by: 'user' | 'address';
  readonly failures: number;
}

export interface ThrottleClock {
  now(): number;
  random(): number;
}

const SYSTEM_CLOCK: ThrottleClock = { now: () => Date.now(), random: () => Math.random() };

export class FailureThrottle {
  readonly #settings: ThrottleSettings;
  readonly #clock: ThrottleClock;
  readonly #counts = new LRUCache<string, Count>({ max: MAX_TRACKED_KEYS });

  constructor(settings: ThrottleSettings, clock: ThrottleClock = SYSTEM_CLOCK) {
    this.#settings = settings;
    this.#clock = clock;
  }

  get afterFailures(): number {
    return this.#settings.afterFailures;
  }

  get trackedKeys(): number {
    return this.#counts.size;
  }

  /**
   * How long to hold this answer, judged on the failures seen before it.
   * `failed` says whether the answer is a definite failure (NO).
   */
  decide(user: string, address: string | undefined, failed: boolean): ThrottleDecision | undefined {
    if (this.#settings.afterFailures <= 0) return undefined;
    const byAddress = address === undefined ? 0 : this.#failures(addressKey(address));
    const byUser = failed ? this.#failures(userKey(user)) : 0;
    const failures = Math.max(byAddress, byUser);
    if (failures < this.#settings.afterFailures) return undefined;
    const ceiling = Math.min(this.#settings.maxDelayMs, FIRST_DELAY_MS * 2 ** Math.min(30, failures - this.#settings.afterFailures));
    const delayMs = Math.round(ceiling / 2 + (this.#clock.random() * ceiling) / 2);
    return { delayMs, by: byAddress >= byUser ? 'address' : 'user', failures };
  }

  /** Count a definite failure against the name and the address. Returns the user's count after it. */
  recordFailure(user: string, address: string | undefined): { user: number; address: number | undefined } {
    return {
      user: this.#bump(userKey(user)),
      address: address === undefined ? undefined : this.#bump(addressKey(address)),
    };
  }

  /**
   * The owner proved the password: the name's count starts over. The
   * address's does not, or an attacker with one account of their own could
   * wipe their address's record between guesses.
   */
  recordSuccess(user: string): void {
    this.#counts.delete(userKey(user));
  }

  clear(): void {
    this.#counts.clear();
  }

  #failures(key: string): number {
    const count = this.#counts.get(key);
    if (!count) return 0;
    if (this.#clock.now() - count.lastFailureAt > this.#settings.windowMs) {
      this.#counts.delete(key);
      return 0;
    }
    return count.failures;
  }

  #bump(key: string): number {
    const failures = this.#failures(key) + 1;
    this.#counts.set(key, { failures, lastFailureAt: this.#clock.now() });
    return failures;
  }
}

const userKey = (user: string) => `u:${user}`;
const addressKey = (address: string) => `a:${address}`;

/**
 * The address part of the fifth field ("addr;port", as cyrus-sasl sends it):
 * the port changes with every connection, so it must not be part of the key.
 */
export function clientAddressOf(field: string): string {
  const separator = field.lastIndexOf(';');
  return separator < 0 ? field : field.slice(0, separator);
}
