/**
 * The scheme dispatcher: decides which algorithm a stored value uses and
 * whether a password matches it. Order, as Dovecot and PostfixAdmin expect:
 * an explicit {SCHEME} prefix, then the $id$ of a crypt string, then the
 * configured default scheme.
 */
import { randomBytes } from 'node:crypto';
import { constantTimeEqual } from './constant-time.js';
import { md5crypt, parseMd5Crypt } from './md5crypt.js';

export type Verdict =
  | { readonly status: 'match'; readonly scheme: string }
  | { readonly status: 'mismatch'; readonly scheme: string }
  /** The stored value is in a scheme we cannot verify, or is damaged: a failed login, never a crash. */
  | { readonly status: 'unsupported'; readonly scheme: string; readonly reason: string };

/** Checks one password against one stored value of a scheme it knows. */
type SchemeCheck = (password: Buffer, value: string) => Verdict;

/** The crypt(3) family, recognised by the stored value's $id$. */
function verifyCryptString(password: Buffer, value: string): Verdict {
  const md5 = parseMd5Crypt(value);
  if (md5) {
    const scheme = md5.magic === '$1$' ? 'MD5-CRYPT' : 'APR1';
    const matches = constantTimeEqual(Buffer.from(md5crypt(password, md5.salt, md5.magic)), Buffer.from(value));
    return { status: matches ? 'match' : 'mismatch', scheme };
  }
  const id = /^\$([^$]*)\$/.exec(value)?.[1];
  return {
    status: 'unsupported',
    scheme: id === undefined ? 'CRYPT' : `$${id}$`,
    reason: id === undefined ? 'not a crypt string this daemon can verify' : `crypt scheme $${id}$ is not supported (or the value is malformed)`,
  };
}

function verifyPlain(password: Buffer, value: string): Verdict {
  return { status: constantTimeEqual(password, Buffer.from(value, 'utf8')) ? 'match' : 'mismatch', scheme: 'PLAIN' };
}

/** Dovecot {SCHEME} names, matched case-insensitively. */
const PREFIXED_SCHEMES: ReadonlyMap<string, SchemeCheck> = new Map([
  ['PLAIN', verifyPlain],
  ['CLEARTEXT', verifyPlain],
  ['CRYPT', verifyCryptString],
  ['MD5-CRYPT', verifyCryptString],
]);

export const DEFAULT_SCHEMES = ['CRYPT', 'PLAIN'] as const;
export type DefaultScheme = (typeof DEFAULT_SCHEMES)[number];

const PREFIX = /^\{([A-Za-z0-9._-]+)\}/;

export function verifyPassword(password: Buffer, stored: string, defaultScheme: DefaultScheme): Verdict {
  const prefix = PREFIX.exec(stored);
  if (prefix) {
    const name = prefix[1]!.toUpperCase();
    const check = PREFIXED_SCHEMES.get(name);
    if (!check) return { status: 'unsupported', scheme: name, reason: `password scheme {${name}} is not supported` };
    return check(password, stored.slice(prefix[0].length));
  }
  if (stored.startsWith('$')) return verifyCryptString(password, stored);
  return PREFIXED_SCHEMES.get(defaultScheme)!(password, stored);
}

/**
 * A throwaway md5crypt hash of random bytes. Unknown users are checked
 * against it so that a miss costs as much time as a wrong password and the
 * answer's timing does not reveal which mailboxes exist.
 */
const DUMMY_HASH = md5crypt(randomBytes(16), randomBytes(6).toString('base64').replace(/[+=]/g, '.'));

export function burnDummyVerification(password: Buffer): void {
  verifyCryptString(password, DUMMY_HASH);
}
