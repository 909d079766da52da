/**
 * Which algorithm a stored value uses, decided once per check. Order, as
 * Dovecot and PostfixAdmin expect: an explicit {SCHEME} prefix, then the $id$
 * of a crypt string (schemes/crypt-strings.ts), then the configured default
 * scheme (pam_mysql's crypt=). Cheap schemes are checked inline; crypt strings
 * go to the lane their cost calls for, already parsed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constantTimeEqual } from './constant-time.js';
import type { DefaultScheme } from './default-scheme.js';
import type { Lane } from './lane.js';
import { checkDigest, checkJoomla15, checkMysql41, checkSaltedDigest, decode, guessEncoding, type DigestAlgorithm, type Encoding } from './schemes/digests.js';
import { DEFAULT_COST_CEILINGS, recogniseCryptString, startsLikeKnownCryptString, type CostCeilings, type CryptTask } from './schemes/crypt-strings.js';
import { md5crypt } from './schemes/md5crypt.js';
import { parsePhpass, phpass } from './schemes/phpass.js';

export type Plan =
  /** `check` says match or not, or undefined when the stored value turns out damaged. */
  | { readonly kind: 'inline'; readonly scheme: string; readonly check: () => boolean | undefined }
  | { readonly kind: 'lane'; readonly scheme: string; readonly lane: Lane; readonly task: CryptTask }
  /** A scheme we do not read. */
  | { readonly kind: 'unsupported'; readonly scheme: string; readonly reason: string }
  /** A scheme we read, but the value does not parse: truncated or damaged. */
  | { readonly kind: 'malformed'; readonly scheme: string; readonly reason: string }
  /** A lock marker: the account is off on purpose. */
  | { readonly kind: 'locked'; readonly scheme: string; readonly reason: string }
  /** The value asks for more work than the ceilings allow: refused without computing anything. */
  | { readonly kind: 'over-ceiling'; readonly scheme: string; readonly reason: string };

/** The plan kinds that are decided without checking the password. */
export type Refusal = Extract<Plan, { readonly reason: string }>;

export function isRefusal(chosen: Plan): chosen is Refusal {
  return chosen.kind !== 'inline' && chosen.kind !== 'lane';
}

const damaged = (scheme: string): Plan => ({ kind: 'malformed', scheme, reason: `stored {${scheme}} value is malformed (truncated or damaged)` });

/**
 * Lock markers as passwd -l and useradd write them: "!" in front ("!", "!!",
 * "!$6$..."), or a "*" that is not a MySQL 4.1 hash ("*", "*LK*", "*NP*").
 * crypt(3) refuses such a value, so pam_mysql answers no; so does this daemon.
 */
const LOCK_MARKER = /^(?:!|\*(?![0-9A-Fa-f]{40}$))/;

function planCryptString(value: string, ceilings: CostCeilings): Plan | undefined {
  const found = recogniseCryptString(value, ceilings);
  if (!found) return undefined;
  return found.overCeiling === undefined ? { kind: 'lane', scheme: found.scheme, lane: found.lane, task: found.task } : { kind: 'over-ceiling', scheme: found.scheme, reason: found.overCeiling };
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
function planPrefixed(name: string, value: string, password: Buffer, ceilings: CostCeilings): Plan {
  const suffix = /\.(HEX|B64)$/.exec(name);
  const base = suffix ? name.slice(0, -4) : name;
  const encoding: Encoding | undefined = suffix ? (suffix[1] === 'HEX' ? 'hex' : 'base64') : undefined;

  if (base === 'PLAIN' || base === 'CLEARTEXT' || base === 'CLEAR') return plain(password, value);
  if (UNSALTED[base]) return digestPlan(name, UNSALTED[base], false, value, encoding ?? (base === 'MD5RAW' ? 'hex' : undefined), password);
  if (SALTED[base]) return digestPlan(name, SALTED[base], true, value, encoding, password);
  // {MD5} is md5crypt to Dovecot and a base64 MD5 digest to Courier authlib; the value tells which.
  if (base === 'MD5') return value.startsWith('$1$') ? (planCryptString(value, ceilings) ?? damaged(name)) : digestPlan(name, 'md5', false, value, encoding, password);
  if (CRYPT_PREFIXES.has(base)) {
    // PostfixAdmin's {SHA512-CRYPT.B64}: the crypt string itself, base64-encoded.
    const cryptString = encoding === 'base64' ? decode(value, 'base64')?.toString('latin1') : value;
    if (cryptString === undefined) return damaged(name);
    return planCryptString(cryptString, ceilings) ?? damaged(name);
  }
  return { kind: 'unsupported', scheme: name, reason: `password scheme {${name}} is not supported` };
}

interface UnprefixedScheme {
  /** How a value with neither prefix nor a known $id$ is checked under this default scheme. */
  plan(value: string, password: Buffer): Plan;
  /** A stored value in this scheme for a random password nobody knows: the dummy check's target. */
  dummy(secret: Buffer, salt: string): string;
}

const hexDigest = (algorithm: DigestAlgorithm): UnprefixedScheme => ({
  plan: (value, password) => digestPlan(`${algorithm.toUpperCase()}-HEX`, algorithm, false, value, 'hex', password),
  dummy: (secret) => createHash(algorithm).update(secret).digest('hex'),
});

/** pam_mysql's crypt= modes (and our names for them): one entry each. */
const UNPREFIXED: Readonly<Record<DefaultScheme, UnprefixedScheme>> = {
  plain: { plan: (value, password) => plain(password, value), dummy: (secret) => secret.toString('base64') },
  crypt: {
    plan: (value) => {
      const id = /^\$[^$]*\$/.exec(value)?.[0] ?? '$';
      if (startsLikeKnownCryptString(value)) return { kind: 'malformed', scheme: 'CRYPT', reason: `stored ${id} value is malformed (truncated or damaged: is the column long enough?)` };
      return { kind: 'unsupported', scheme: 'CRYPT', reason: value.startsWith('$') ? `crypt scheme ${id} is not supported` : 'not a crypt(3) string' };
    },
    // md5crypt: what the classic chain's crypt=1 tables hold.
    dummy: (secret, salt) => md5crypt(secret, salt),
  },
  mysql: {
    plan: (value, password) => ({ kind: 'inline', scheme: 'MYSQL41', check: () => checkMysql41(password, value) }),
    dummy: (secret) => `*${createHash('sha1').update(createHash('sha1').update(secret).digest()).digest('hex').toUpperCase()}`,
  },
  md5: hexDigest('md5'),
  sha1: hexDigest('sha1'),
  sha256: hexDigest('sha256'),
  sha512: hexDigest('sha512'),
  joomla15: {
    plan: (value, password) => ({ kind: 'inline', scheme: 'JOOMLA15', check: () => checkJoomla15(password, value) }),
    dummy: (secret, salt) => `${createHash('md5').update(secret).digest('hex')}:${salt}`,
  },
  ssha: {
    plan: (value, password) => digestPlan('SSHA', 'sha1', true, value, 'base64', password),
    dummy: (secret) => Buffer.concat([createHash('sha1').update(secret).digest(), randomBytes(8)]).toString('base64'),
  },
  drupal7: {
    // Drupal 7 hashes carry their own $S$/$P$/$H$ id, so a value that gets here is not one.
    plan: () => ({ kind: 'unsupported', scheme: 'DRUPAL7', reason: 'not a Drupal 7 ($S$, $P$, $H$) hash' }),
    dummy: (secret, salt) => phpass(secret, parsePhpass(`$S$D${salt}${'.'.repeat(43)}`)!),
  },
};

const PREFIX = /^\{([A-Za-z0-9._-]+)\}/;

export function plan(password: Buffer, stored: string, defaultScheme: DefaultScheme, ceilings: CostCeilings = DEFAULT_COST_CEILINGS): Plan {
  const prefix = PREFIX.exec(stored);
  if (prefix) return planPrefixed(prefix[1]!.toUpperCase(), stored.slice(prefix[0].length), password, ceilings);
  // Under crypt=0 a "!" or "*" is just the first character of a plain-text password.
  if (defaultScheme !== 'plain' && LOCK_MARKER.test(stored)) return { kind: 'locked', scheme: 'LOCKED', reason: 'the stored value is a lock marker ("!" or "*" in front): the account is locked' };
  return (stored.startsWith('$') || defaultScheme === 'crypt' ? planCryptString(stored, ceilings) : undefined) ?? UNPREFIXED[defaultScheme].plan(stored, password);
}

/** A stored value of the default scheme for a random password nobody knows. */
export function dummyValue(scheme: DefaultScheme): string {
  return UNPREFIXED[scheme].dummy(randomBytes(18), randomBytes(6).toString('base64').replace(/[+=]/g, '.'));
}
