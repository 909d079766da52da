/**
 * Re-hashing on login, the crypt side: which schemes new values may be
 * written in, whether a stored value is weaker than that, and the new value
 * in the stored one's form ({SCHEME} prefix or not).
 *
 * New values must stay readable by crypt(3) (libxcrypt), so that a rollback
 * to saslauthd + pam_mysql crypt=1 keeps every re-hashed mailbox working:
 * hence no Argon2 (libxcrypt has none) and no salted digests.
 */
import { recogniseCryptString } from './schemes/crypt-strings.js';

export const REHASH_SCHEMES = ['SHA512-CRYPT', 'SHA256-CRYPT', 'BLF-CRYPT', 'MD5-CRYPT'] as const;
export type RehashScheme = (typeof REHASH_SCHEMES)[number];

/** The usual cost of each, as "saslauthd-mysql hash" writes it: sha-crypt rounds, bcrypt cost. */
const DEFAULT_COST: Readonly<Record<RehashScheme, number | undefined>> = { 'SHA512-CRYPT': 5000, 'SHA256-CRYPT': 5000, 'BLF-CRYPT': 10, 'MD5-CRYPT': undefined };
const COST_RANGE: Readonly<Record<RehashScheme, readonly [number, number] | undefined>> = { 'SHA512-CRYPT': [1000, 999_999_999], 'SHA256-CRYPT': [1000, 999_999_999], 'BLF-CRYPT': [4, 31], 'MD5-CRYPT': undefined };

/**
 * How strong each scheme is, roughly: a value is re-hashed when its scheme
 * ranks below the target's. Anything not named (plaintext, unsalted and
 * salted digests, DES, MySQL's PASSWORD()) ranks lowest.
 */
const STRENGTH: Readonly<Record<string, number>> = {
  'MD5-CRYPT': 1, APR1: 1, PHPASS: 1, DRUPAL7: 1,
  'SHA256-CRYPT': 2, 'SHA512-CRYPT': 3,
  'BLF-CRYPT': 4, ARGON2I: 4, ARGON2D: 4, ARGON2ID: 5,
};

export interface RehashTarget {
  readonly scheme: RehashScheme;
  /** sha-crypt rounds or bcrypt cost. */
  readonly cost: number | undefined;
}

/** The target for rehash_to (and rehash_cost), or why it cannot be one. */
export function parseRehashTarget(name: string, cost: number | undefined): RehashTarget | { readonly problem: string } {
  const scheme = name.trim().toUpperCase();
  if (!(REHASH_SCHEMES as readonly string[]).includes(scheme)) {
    const why = /^ARGON2/.test(scheme) || /^S?SHA|^SMD5/.test(scheme) ? ': crypt(3) cannot read it, so a rollback to pam_mysql crypt=1 would lock those mailboxes out' : '';
    return { problem: `cannot re-hash to "${name}"${why}; choose one of ${REHASH_SCHEMES.join(', ')}` };
  }
  const target = scheme as RehashScheme;
  const range = COST_RANGE[target];
  if (cost !== undefined && !range) return { problem: `${target} has no cost to set; leave rehash_cost out` };
  if (cost !== undefined && range && (cost < range[0] || cost > range[1])) return { problem: `${target} takes a cost from ${range[0]} to ${range[1]}` };
  return { scheme: target, cost: cost ?? DEFAULT_COST[target] };
}

const PREFIX = /^\{([^}]*)\}/;

/** The cost of a stored crypt value (sha-crypt rounds, bcrypt cost); undefined for schemes without one. */
function costOf(stored: string): number | undefined {
  const prefix = PREFIX.exec(stored);
  const task = recogniseCryptString(prefix ? stored.slice(prefix[0].length) : stored)?.task;
  if (task?.kind === 'sha-crypt') return task.parsed.rounds;
  if (task?.kind === 'bcrypt') return Number(task.stored.slice(4, 6));
  return undefined;
}

/**
 * Whether a value that just verified should be written again in the target
 * scheme. `scheme` is the one the verifier read it with (its name for the
 * value: MD5-CRYPT, PLAIN, SSHA, ...).
 */
export function isWeaker(stored: string, scheme: string, target: RehashTarget): boolean {
  if (scheme === target.scheme) {
    const cost = costOf(stored);
    return cost !== undefined && target.cost !== undefined && cost < target.cost;
  }
  return (STRENGTH[scheme] ?? 0) < (STRENGTH[target.scheme] ?? 0);
}

/** The new value in the old one's form: a row that carried a {SCHEME} prefix keeps carrying one. */
export function inStoredForm(old: string, bare: string, target: RehashTarget): string {
  return PREFIX.test(old) ? `{${target.scheme}}${bare}` : bare;
}
