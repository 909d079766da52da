/**
 * The scheme dispatcher: decides which algorithm a stored value uses and
 * whether a password matches it. Order, as Dovecot and PostfixAdmin expect:
 * an explicit {SCHEME} prefix, then the $id$ of a crypt string, then the
 * configured default scheme. Cheap schemes run inline; expensive ones in the
 * worker pool.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constantTimeEqual } from './constant-time.js';
import type { DefaultScheme } from './default-scheme.js';
import { checkDigest, checkJoomla15, checkMysql41, checkSaltedDigest, decode, guessEncoding, type DigestAlgorithm, type Encoding } from './schemes/digests.js';
import { isDesCrypt } from './schemes/des-crypt.js';
import { verifyPooled, type PooledScheme } from './schemes/pooled.js';
import { md5crypt, parseMd5Crypt } from './schemes/md5crypt.js';
import { parsePhpass, phpass } from './schemes/phpass.js';
import { parseShaCrypt } from './schemes/sha-crypt.js';
import type { Lane, PoolOutcome, VerifyPools } from './verify-pool.js';
import type { Cancellation } from '../protocol/cancellation.js';

export type Verdict =
  | { readonly status: 'match'; readonly scheme: string }
  | { readonly status: 'mismatch'; readonly scheme: string }
  /** The stored value is in a scheme we cannot verify, or is damaged: a failed login, never a crash. */
  | { readonly status: 'unsupported'; readonly scheme: string; readonly reason: string }
  /** We could not decide now (a temporary failure): the pool's queue was full, or the request was abandoned while queued. */
  | { readonly status: 'overloaded'; readonly scheme: string; readonly reason: 'queue full' | 'abandoned' };

/** How to check one stored value. */
type Plan =
  | { readonly kind: 'inline'; readonly scheme: string; readonly check: () => boolean | undefined }
  | { readonly kind: 'pool'; readonly scheme: string; readonly lane: Lane; readonly task: PooledScheme; readonly stored: string }
  | { readonly kind: 'unsupported'; readonly scheme: string; readonly reason: string };

const damaged = (scheme: string): Plan => ({ kind: 'unsupported', scheme, reason: `stored {${scheme}} value is malformed` });

/** A crypt(3) string, by its $id$ (or its shape, for DES). Undefined when it is none we know. */
function planCryptString(value: string): Plan | undefined {
  const md5 = parseMd5Crypt(value);
  if (md5) return { kind: 'pool', scheme: md5.magic === '$1$' ? 'MD5-CRYPT' : 'APR1', lane: 'fast', task: 'md5crypt', stored: value };
  if (parseShaCrypt(value)) return { kind: 'pool', scheme: value[1] === '5' ? 'SHA256-CRYPT' : 'SHA512-CRYPT', lane: 'slow', task: 'sha-crypt', stored: value };
  if (/^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/.test(value)) return { kind: 'pool', scheme: 'BLF-CRYPT', lane: 'slow', task: 'bcrypt', stored: value };
  const argon = /^\$argon2(id|i|d)\$(?:v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/.exec(value);
  if (argon) return { kind: 'pool', scheme: `ARGON2${argon[1]!.toUpperCase()}`, lane: 'slow', task: 'argon2', stored: value };
  const php = parsePhpass(value);
  if (php) return { kind: 'pool', scheme: php.algorithm === 'sha512' ? 'DRUPAL7' : 'PHPASS', lane: 'slow', task: 'phpass', stored: value };
  if (isDesCrypt(value)) return { kind: 'pool', scheme: 'DES-CRYPT', lane: 'fast', task: 'des', stored: value };
  return undefined;
}

function digestPlan(scheme: string, algorithm: DigestAlgorithm, salted: boolean, value: string, encoding: Encoding | undefined, password: Buffer): Plan {
  const decoded = decode(value, encoding ?? (salted ? 'base64' : guessEncoding(value, algorithm)));
  if (!decoded) return damaged(scheme);
  return { kind: 'inline', scheme, check: () => (salted ? checkSaltedDigest : checkDigest)(algorithm, password, decoded) };
}

const plain = (password: Buffer, value: string): Plan => ({ kind: 'inline', scheme: 'PLAIN', check: () => constantTimeEqual(password, Buffer.from(value, 'utf8')) });

const UNSALTED: Readonly<Record<string, DigestAlgorithm>> = { SHA: 'sha1', SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512', 'PLAIN-MD5': 'md5', 'LDAP-MD5': 'md5', MD5RAW: 'md5' };
const SALTED: Readonly<Record<string, DigestAlgorithm>> = { SSHA: 'sha1', SSHA256: 'sha256', SSHA512: 'sha512', SMD5: 'md5' };
const CRYPT_PREFIXES = new Set(['CRYPT', 'DES-CRYPT', 'MD5-CRYPT', 'SHA256-CRYPT', 'SHA512-CRYPT', 'BLF-CRYPT', 'ARGON2I', 'ARGON2ID']);

/** A {NAME} or {NAME.HEX}/{NAME.B64} prefixed value (name already upper-cased). */
function planPrefixed(name: string, value: string, password: Buffer): Plan {
  const suffix = /\.(HEX|B64)$/.exec(name);
  const base = suffix ? name.slice(0, -4) : name;
  const encoding: Encoding | undefined = suffix ? (suffix[1] === 'HEX' ? 'hex' : 'base64') : undefined;

  if (base === 'PLAIN' || base === 'CLEARTEXT' || base === 'CLEAR') return plain(password, value);
  if (UNSALTED[base]) return digestPlan(name, UNSALTED[base]!, false, value, encoding ?? (base === 'MD5RAW' ? 'hex' : undefined), password);
  if (SALTED[base]) return digestPlan(name, SALTED[base]!, true, value, encoding, password);
  // {MD5} is md5crypt to Dovecot and a base64 MD5 digest to Courier authlib; the value tells which.
  if (base === 'MD5') return value.startsWith('$1$') ? (planCryptString(value) ?? damaged(name)) : digestPlan(name, 'md5', false, value, encoding, password);
  if (CRYPT_PREFIXES.has(base)) {
    // PostfixAdmin's {SHA512-CRYPT.B64}: the crypt string itself, base64-encoded.
    const cryptString = encoding === 'base64' ? decode(value, 'base64')?.toString('latin1') : value;
    if (cryptString === undefined) return damaged(name);
    return planCryptString(cryptString) ?? damaged(name);
  }
  return { kind: 'unsupported', scheme: name, reason: `password scheme {${name}} is not supported` };
}

/** Values with neither prefix nor a known $id$: read them as the configured default scheme says. */
function planDefault(scheme: DefaultScheme, value: string, password: Buffer): Plan {
  const hex = (algorithm: DigestAlgorithm): Plan => digestPlan(`${algorithm.toUpperCase()}-HEX`, algorithm, false, value, 'hex', password);
  switch (scheme) {
    case 'plain':
      return plain(password, value);
    case 'crypt':
      return {
        kind: 'unsupported',
        scheme: 'CRYPT',
        reason: value.startsWith('$') ? `crypt scheme ${/^\$[^$]*\$/.exec(value)?.[0] ?? '$'} is not supported (or the value is malformed)` : 'not a crypt(3) string',
      };
    case 'mysql':
      return { kind: 'inline', scheme: 'MYSQL41', check: () => checkMysql41(password, value) };
    case 'md5':
    case 'sha1':
    case 'sha256':
    case 'sha512':
      return hex(scheme);
    case 'joomla15':
      return { kind: 'inline', scheme: 'JOOMLA15', check: () => checkJoomla15(password, value) };
    case 'ssha':
      return digestPlan('SSHA', 'sha1', true, value, 'base64', password);
    case 'drupal7':
      // Drupal 7 hashes carry their own $S$/$P$/$H$ id, so a value that gets here is not one.
      return { kind: 'unsupported', scheme: 'DRUPAL7', reason: 'not a Drupal 7 ($S$, $P$, $H$) hash' };
  }
}

const PREFIX = /^\{([A-Za-z0-9._-]+)\}/;

function plan(password: Buffer, stored: string, defaultScheme: DefaultScheme): Plan {
  const prefix = PREFIX.exec(stored);
  if (prefix) return planPrefixed(prefix[1]!.toUpperCase(), stored.slice(prefix[0].length), password);
  return (stored.startsWith('$') || defaultScheme === 'crypt' ? planCryptString(stored) : undefined) ?? planDefault(defaultScheme, stored, password);
}

export interface PasswordVerifierOptions {
  readonly defaultScheme: DefaultScheme;
  readonly pools: VerifyPools;
}

export interface VerifyOptions {
  /** Only a slow-lane check listens for it (its signal is made only then: cancellation.ts). */
  readonly cancellation?: Cancellation;
  /** Overrides the verifier's default scheme (a pam_mysql service's own crypt=). */
  readonly defaultScheme?: DefaultScheme;
}

export class PasswordVerifier {
  readonly #options: PasswordVerifierOptions;
  /** Generated throwaway hashes, used until a real stored value has been seen. */
  readonly #dummies = new Map<DefaultScheme, string>();
  /** The last real stored value verified, per default scheme: the table's own scheme and cost. */
  readonly #recent = new Map<DefaultScheme, string>();

  constructor(options: PasswordVerifierOptions) {
    this.#options = options;
  }

  async verify(password: Buffer, stored: string, options: VerifyOptions = {}): Promise<Verdict> {
    const verdict = await this.#check(password, stored, options);
    if (verdict.status !== 'unsupported') this.#recent.set(options.defaultScheme ?? this.#options.defaultScheme, stored);
    return verdict;
  }

  async #check(password: Buffer, stored: string, options: VerifyOptions): Promise<Verdict> {
    const chosen = plan(password, stored, options.defaultScheme ?? this.#options.defaultScheme);
    if (chosen.kind === 'unsupported') return { status: 'unsupported', scheme: chosen.scheme, reason: chosen.reason };
    let outcome: boolean | undefined | PoolOutcome;
    if (chosen.kind === 'inline') outcome = chosen.check();
    // A fast-lane check takes a fraction of a millisecond: not worth an abort listener per task.
    else outcome = await this.#options.pools.lane(chosen.lane).run(chosen.task, password, chosen.stored, chosen.lane === 'slow' ? options.cancellation?.signal : undefined);
    if (outcome === undefined) return { status: 'unsupported', scheme: chosen.scheme, reason: `stored ${chosen.scheme} value is malformed` };
    if (outcome === 'overloaded') return { status: 'overloaded', scheme: chosen.scheme, reason: 'queue full' };
    if (outcome === 'aborted') return { status: 'overloaded', scheme: chosen.scheme, reason: 'abandoned' };
    return { status: outcome ? 'match' : 'mismatch', scheme: chosen.scheme };
  }

  /**
   * Spend the time a real check would, so that an unknown user answers no
   * faster than a known one. The check runs against the last real stored
   * value seen (so a bcrypt table costs bcrypt time, at the table's own cost
   * factor), or a throwaway hash of the default scheme until there is one.
   * The result is thrown away.
   */
  async verifyDummy(password: Buffer, options: VerifyOptions = {}): Promise<void> {
    const scheme = options.defaultScheme ?? this.#options.defaultScheme;
    let dummy = this.#recent.get(scheme) ?? this.#dummies.get(scheme);
    if (dummy === undefined) {
      dummy = dummyFor(scheme);
      this.#dummies.set(scheme, dummy);
    }
    await this.#check(password, dummy, options);
  }
}

/**
 * The same decision on the calling thread, pool schemes included: for the
 * benchmark's single-thread figures and for offline checks, never for requests.
 */
export async function verifyOnThisThread(password: Buffer, stored: string, defaultScheme: DefaultScheme): Promise<boolean | undefined> {
  const chosen = plan(password, stored, defaultScheme);
  if (chosen.kind === 'unsupported') return undefined;
  return chosen.kind === 'inline' ? chosen.check() : verifyPooled(chosen.task, password, chosen.stored);
}

/** What a stored value is, without checking any password against it (for "saslauthd-mysql check"). */
export type StoredValueDescription =
  | { readonly supported: true; readonly scheme: string; readonly runs: 'inline' | 'fast pool' | 'slow pool' }
  | { readonly supported: false; readonly scheme: string; readonly reason: string };

export function describeStoredValue(stored: string, defaultScheme: DefaultScheme): StoredValueDescription {
  const chosen = plan(Buffer.alloc(0), stored, defaultScheme);
  switch (chosen.kind) {
    case 'unsupported':
      return { supported: false, scheme: chosen.scheme, reason: chosen.reason };
    case 'inline':
      return { supported: true, scheme: chosen.scheme, runs: 'inline' };
    case 'pool':
      return { supported: true, scheme: chosen.scheme, runs: chosen.lane === 'fast' ? 'fast pool' : 'slow pool' };
  }
}

/** A stored value of the default scheme for a random password nobody knows. */
function dummyFor(scheme: DefaultScheme): string {
  const secret = randomBytes(18);
  const salt = randomBytes(6).toString('base64').replace(/[+=]/g, '.');
  const hexOf = (algorithm: DigestAlgorithm) => createHash(algorithm).update(secret).digest('hex');
  switch (scheme) {
    case 'crypt':
      return md5crypt(secret, salt);
    case 'plain':
      return secret.toString('base64');
    case 'mysql':
      return `*${createHash('sha1').update(createHash('sha1').update(secret).digest()).digest('hex').toUpperCase()}`;
    case 'md5':
    case 'sha1':
    case 'sha256':
    case 'sha512':
      return hexOf(scheme);
    case 'joomla15':
      return `${hexOf('md5')}:${salt}`;
    case 'ssha':
      return Buffer.concat([createHash('sha1').update(secret).digest(), randomBytes(8)]).toString('base64');
    case 'drupal7': {
      const parsed = parsePhpass(`$S$D${salt}${'.'.repeat(43)}`)!;
      return phpass(secret, parsed);
    }
  }
}
