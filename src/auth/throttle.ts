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
/** Keys tracked at most in each table (LRU): bounds memory whatever an attacker sends, at about 100 bytes a key. */
export const MAX_TRACKED_KEYS = 50_000;

/**
 * What the failing name was, which decides the table it is counted in, so
 * that names anyone can make up cannot push a real user's count out:
 *   has-row     the lookup found the user's row
 *   no-row      the lookup found none (or refused it): made-up names land here
 *   not-a-name  refused before any lookup (invalid text): one shared count
 */
export type NameKind = 'has-row' | 'no-row' | 'not-a-name';

type Table = 'has-row' | 'no-row' | 'address';

/** The one key every request refused before its lookup shares (NUL never occurs in a name). */
const NOT_A_NAME = '\u0000not-a-name';

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
  /** Users whose row exists; names with no row; client addresses: each its own bounded table. */
  readonly #tables: Readonly<Record<Table, LRUCache<string, Count>>> = {
    'has-row': new LRUCache<string, Count>({ max: MAX_TRACKED_KEYS }),
    'no-row': new LRUCache<string, Count>({ max: MAX_TRACKED_KEYS }),
    address: new LRUCache<string, Count>({ max: MAX_TRACKED_KEYS }),
  };

  constructor(settings: ThrottleSettings, clock: ThrottleClock = SYSTEM_CLOCK) {
    this.#settings = settings;
    this.#clock = clock;
  }

  get afterFailures(): number {
    return this.#settings.afterFailures;
  }

  get trackedKeys(): number {
    return this.#tables['has-row'].size + this.#tables['no-row'].size + this.#tables.address.size;
  }

  /**
   * How long to hold this answer, judged on the failures seen before it.
   * `failed` says whether the answer is a definite failure (NO); `kind` which
   * table the name is counted in.
   */
  decide(user: string, address: string | undefined, failed: boolean, kind: NameKind = 'has-row'): ThrottleDecision | undefined {
    if (this.#settings.afterFailures <= 0) return undefined;
    const byAddress = address === undefined ? 0 : this.#failures('address', address);
    const byUser = failed ? this.#failures(...nameKey(user, kind)) : 0;
    const failures = Math.max(byAddress, byUser);
    if (failures < this.#settings.afterFailures) return undefined;
    const ceiling = Math.min(this.#settings.maxDelayMs, FIRST_DELAY_MS * 2 ** Math.min(30, failures - this.#settings.afterFailures));
    const delayMs = Math.round(ceiling / 2 + (this.#clock.random() * ceiling) / 2);
    return { delayMs, by: byAddress >= byUser ? 'address' : 'user', failures };
  }

  /** Count a definite failure against the name and the address. Returns the counts after it. */
  recordFailure(user: string, address: string | undefined, kind: NameKind = 'has-row'): { user: number; address: number | undefined } {
    return {
      user: this.#bump(...nameKey(user, kind)),
      address: address === undefined ? undefined : this.#bump('address', address),
    };
  }

  /**
   * The owner proved the password: the name's count starts over. The
   * address's does not, or an attacker with one account of their own could
   * wipe their address's record between guesses.
   */
  recordSuccess(user: string): void {
    this.#tables['has-row'].delete(user);
    this.#tables['no-row'].delete(user);
  }

  clear(): void {
    for (const table of Object.values(this.#tables)) table.clear();
  }

  #failures(table: Table, key: string): number {
    const counts = this.#tables[table];
    const count = counts.get(key);
    if (!count) return 0;
    if (this.#clock.now() - count.lastFailureAt > this.#settings.windowMs) {
      counts.delete(key);
      return 0;
    }
    return count.failures;
  }

  #bump(table: Table, key: string): number {
    const failures = this.#failures(table, key) + 1;
    this.#tables[table].set(key, { failures, lastFailureAt: this.#clock.now() });
    return failures;
  }
}

/** The table and key a name is counted under. */
function nameKey(user: string, kind: NameKind): ['has-row' | 'no-row', string] {
  return kind === 'not-a-name' ? ['no-row', NOT_A_NAME] : [kind, user];
}


/**
 * The address part of the fifth field ("addr;port", as cyrus-sasl sends it):
 * the port changes with every connection, so it must not be part of the key.
 */
export function clientAddressOf(field: string): string {
  const separator = field.lastIndexOf(';');
  return separator < 0 ? field : field.slice(0, separator);
}
