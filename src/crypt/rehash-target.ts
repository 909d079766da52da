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
 * What one check of a value costs a guesser, in the same rough unit for
 * every scheme (a sha-crypt round, a bcrypt round...; relative weights from
 * bench/crypt-bench.ts, where only their order matters): a value is
 * re-hashed only when the target costs more, so a re-hash never lowers the
 * work a stolen table asks of a guesser. Schemes not named here (plaintext,
 * unsalted and salted digests, DES, MySQL's PASSWORD()) cost next to nothing;
 * Argon2, which nothing here writes, is never re-hashed.
 */
const WORK_PER_COST: Readonly<Record<string, (cost: number | undefined) => number>> = {
  'MD5-CRYPT': () => 100,
  APR1: () => 100,
  'SHA256-CRYPT': (rounds) => (rounds ?? 5000) / 4,
  'SHA512-CRYPT': (rounds) => ((rounds ?? 5000) * 3) / 8,
  'BLF-CRYPT': (cost) => 50_000 * 2 ** ((cost ?? 10) - 10),
  PHPASS: (log2) => 2 ** (log2 ?? 13) / 80,
  DRUPAL7: (log2) => 2 ** (log2 ?? 15) / 30,
  ARGON2I: () => Number.POSITIVE_INFINITY,
  ARGON2D: () => Number.POSITIVE_INFINITY,
  ARGON2ID: () => Number.POSITIVE_INFINITY,
};

/**
 * How many bytes of a password each scheme reads: DES the first 8, bcrypt the
 * first 72. A match proves no more of the typed password than that, so a
 * longer one is never re-hashed (a typo past those bytes would become the
 * stored password); and nothing longer than 72 bytes is written as bcrypt.
 */
const BYTES_READ: Readonly<Record<string, number>> = { 'DES-CRYPT': 8, 'BLF-CRYPT': 72 };

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

/** The cost of a stored crypt value (sha-crypt rounds, bcrypt cost, phpass's log2 of its rounds); undefined for schemes without one. */
function costOf(stored: string): number | undefined {
  const prefix = PREFIX.exec(stored);
  const task = recogniseCryptString(prefix ? stored.slice(prefix[0].length) : stored)?.task;
  if (task?.kind === 'sha-crypt') return task.parsed.rounds;
  if (task?.kind === 'bcrypt') return Number(task.stored.slice(4, 6));
  if (task?.kind === 'phpass') return Math.log2(task.parsed.iterations);
  return undefined;
}

function workOf(scheme: string, cost: number | undefined): number {
  return WORK_PER_COST[scheme]?.(cost) ?? 0;
}

/**
 * Whether a value that just verified should be written again in the target
 * scheme: only when the target costs a guesser more than it (never a lower
 * work factor), and only when the match proved every byte of the typed
 * password and the target keeps every byte. `scheme` is the one the verifier
 * read it with (its name for the value: MD5-CRYPT, PLAIN, SSHA, ...).
 */
export function isWeaker(stored: string, scheme: string, target: RehashTarget, passwordBytes: number): boolean {
  if (passwordBytes > (BYTES_READ[scheme] ?? Number.POSITIVE_INFINITY)) return false;
  if (passwordBytes > (BYTES_READ[target.scheme] ?? Number.POSITIVE_INFINITY)) return false;
  return workOf(target.scheme, target.cost) > workOf(scheme, costOf(stored));
}

/** The new value in the old one's form: a row that carried a {SCHEME} prefix keeps carrying one. */
export function inStoredForm(old: string, bare: string, target: RehashTarget): string {
  return PREFIX.test(old) ? `{${target.scheme}}${bare}` : bare;
}
