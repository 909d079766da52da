/**
 * The registry of crypt(3)-style strings ("$id$..." and DES): one entry per
 * algorithm with everything about it in one place: how a stored value is
 * recognised (and parsed, once), the Dovecot name it goes by, which lane its
 * cost calls for, how a password is checked against it, and how a new value
 * is written. The verifier asks `recogniseCryptString`; pool workers run
 * `verifyCryptTask` on the parsed task they are handed.
 */
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { constantTimeEqual } from '../constant-time.js';
import { CRYPT_ALPHABET } from '../crypt-base64.js';
import type { Lane } from '../lane.js';
import type { CryptKind, CryptTask } from './crypt-task.js';
import { desCrypt, isDesCrypt } from './des-crypt.js';
import { md5crypt, parseMd5Crypt } from './md5crypt.js';
import { parsePhpass, phpass } from './phpass.js';
import { parseShaCrypt, shaCrypt } from './sha-crypt.js';

/** bcrypt reads at most this many password bytes; every implementation ignores the rest. */
export const BCRYPT_MAX_PASSWORD_BYTES = 72;

export type { CryptKind, CryptTask } from './crypt-task.js';

export interface Recognised {
  /** Dovecot's name for the scheme: MD5-CRYPT, SHA512-CRYPT, BLF-CRYPT, ... */
  readonly scheme: string;
  readonly lane: Lane;
  readonly task: CryptTask;
  /** Set when the value asks for more work than the ceilings allow: it must not be computed. */
  readonly overCeiling?: string;
}

/**
 * The most work one stored value may ask for. A row is data anyone with write
 * access to the table (or a compromised web panel) controls: without a ceiling
 * one value with 999,999,999 sha-crypt rounds or an 8 GiB Argon2 memory cost
 * takes the daemon's CPU or memory for every login that touches it.
 */
export interface CostCeilings {
  readonly bcryptCost: number;
  readonly shaCryptRounds: number;
  readonly argon2MemoryKiB: number;
  readonly argon2Passes: number;
  /** phpass and Drupal 7: log2 of the iteration count. */
  readonly phpassLog2: number;
}

/** Well above what any current default writes (bcrypt 10-12, sha-crypt 5,000-656,000, Argon2 19-64 MiB), far below harm. */
export const DEFAULT_COST_CEILINGS: CostCeilings = Object.freeze({ bcryptCost: 14, shaCryptRounds: 1_000_000, argon2MemoryKiB: 262_144, argon2Passes: 10, phpassLog2: 20 });

/** Parameters for writing a new value. */
export interface GenerateOptions {
  /** sha-crypt rounds (1000..999999999; default 5000, written out only when not the default). */
  readonly rounds?: number;
  /** bcrypt cost (4..31, default 10). */
  readonly cost?: number;
}

interface CryptScheme<K extends CryptKind> {
  readonly kind: K;
  readonly lane: Lane;
  /** The scheme's name and parsed task when `value` has this scheme's shape. */
  recognise(value: string): { readonly scheme: string; readonly task: Extract<CryptTask, { kind: K }> } | undefined;
  verify(password: Buffer, task: Extract<CryptTask, { kind: K }>): Promise<boolean> | boolean;
  /** Why this value asks for more work than the ceilings allow; undefined when it does not. */
  overCeiling(task: Extract<CryptTask, { kind: K }>, ceilings: CostCeilings): string | undefined;
  /** Writes a new value under one of this scheme's names; absent for schemes nobody should choose today. */
  generate?(name: string, password: Buffer, options: GenerateOptions): Promise<string> | string;
}

type Generating<K extends CryptKind> = CryptScheme<K> & Required<Pick<CryptScheme<K>, 'generate'>>;

function cryptSalt(length: number): string {
  return Array.from(randomBytes(length), (byte) => CRYPT_ALPHABET[byte & 63]).join('');
}

const sameString = (computed: string, stored: string) => constantTimeEqual(Buffer.from(computed), Buffer.from(stored));

const MD5CRYPT: Generating<'md5crypt'> = {
  kind: 'md5crypt',
  lane: 'fast',
  recognise(value) {
    const parsed = parseMd5Crypt(value);
    return parsed && { scheme: parsed.magic === '$1$' ? 'MD5-CRYPT' : 'APR1', task: { kind: 'md5crypt', stored: value, parsed } };
  },
  verify: (password, task) => sameString(md5crypt(password, task.parsed.salt, task.parsed.magic), task.stored),
  // A fixed 1,000 rounds: nothing for a row to raise.
  overCeiling: () => undefined,
  generate: (_name, password) => md5crypt(password, cryptSalt(8)),
};

const SHA_CRYPT: Generating<'sha-crypt'> = {
  kind: 'sha-crypt',
  lane: 'slow',
  recognise(value) {
    const parsed = parseShaCrypt(value);
    return parsed && { scheme: parsed.id === '5' ? 'SHA256-CRYPT' : 'SHA512-CRYPT', task: { kind: 'sha-crypt', stored: value, parsed } };
  },
  verify: (password, task) => sameString(shaCrypt(password, task.parsed), task.stored),
  overCeiling: (task, ceilings) => above('sha-crypt rounds', task.parsed.rounds, ceilings.shaCryptRounds, '--max-sha-crypt-rounds'),
  generate(name, password, { rounds = 5000 }) {
    if (!Number.isInteger(rounds) || rounds < 1000 || rounds > 999_999_999) throw new RangeError('rounds must be a whole number from 1000 to 999999999');
    return shaCrypt(password, { id: name === 'SHA256-CRYPT' ? '5' : '6', rounds, roundsGiven: rounds !== 5000, salt: cryptSalt(16) });
  },
};

const BCRYPT_PATTERN = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

const BCRYPT: Generating<'bcrypt'> = {
  kind: 'bcrypt',
  lane: 'slow',
  recognise: (value) => (BCRYPT_PATTERN.test(value) ? { scheme: 'BLF-CRYPT', task: { kind: 'bcrypt', stored: value } } : undefined),
  async verify(password, task) {
    // Loaded on first use: a worker that never sees bcrypt or Argon2 never loads WebAssembly or native code.
    // hash-wasm takes raw bytes (bcryptjs only takes strings, and re-encodes them).
    const { bcryptVerify } = await import('hash-wasm');
    return bcryptVerify({ password: password.subarray(0, BCRYPT_MAX_PASSWORD_BYTES), hash: task.stored });
  },
  overCeiling: (task, ceilings) => above('bcrypt cost', Number(task.stored.slice(4, 6)), ceilings.bcryptCost, '--max-bcrypt-cost'),
  async generate(_name, password, { cost = 10 }) {
    if (!Number.isInteger(cost) || cost < 4 || cost > 31) throw new RangeError('cost must be a whole number from 4 to 31');
    if (password.length > BCRYPT_MAX_PASSWORD_BYTES) throw new RangeError(`bcrypt reads only the first ${BCRYPT_MAX_PASSWORD_BYTES} bytes of a password; choose another scheme for longer ones`);
    const { bcrypt } = await import('hash-wasm');
    const encoded = await bcrypt({ password, salt: randomBytes(16), costFactor: cost, outputType: 'encoded' });
    // hash-wasm writes $2a$; $2b$ is the same algorithm under the name libxcrypt and OpenBSD write today.
    return encoded.replace(/^\$2a\$/, '$2b$');
  },
};

const ARGON2_PATTERN = /^\$argon2(id|i|d)\$(?:v=\d+\$)?m=(\d{1,10}),t=(\d{1,10}),p=\d{1,3}\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;

const ARGON2: Generating<'argon2'> = {
  kind: 'argon2',
  lane: 'slow',
  recognise(value) {
    const match = ARGON2_PATTERN.exec(value);
    return match ? { scheme: `ARGON2${match[1]!.toUpperCase()}`, task: { kind: 'argon2', stored: value } } : undefined;
  },
  async verify(password, task) {
    // The native binding is the faster one but refuses bytes that are not UTF-8; hash-wasm takes any bytes.
    if (isUtf8(password)) return (await import('@node-rs/argon2')).verifySync(task.stored, password);
    const { argon2Verify } = await import('hash-wasm');
    return argon2Verify({ password, hash: task.stored });
  },
  overCeiling(task, ceilings) {
    const [, memory, passes] = ARGON2_PATTERN.exec(task.stored)!.slice(1);
    return above('Argon2 memory (KiB)', Number(memory), ceilings.argon2MemoryKiB, '--max-argon2-memory') ?? above('Argon2 passes', Number(passes), ceilings.argon2Passes, '--max-argon2-passes');
  },
  async generate(name, password) {
    const { argon2id, argon2i } = await import('hash-wasm');
    // OWASP's minimum for Argon2id (19 MiB, 2 passes); the same parameters for Argon2i.
    const make = name === 'ARGON2ID' ? argon2id : argon2i;
    return make({ password, salt: randomBytes(16), parallelism: 1, iterations: 2, memorySize: 19_456, hashLength: 32, outputType: 'encoded' });
  },
};

const PHPASS: CryptScheme<'phpass'> = {
  kind: 'phpass',
  lane: 'slow',
  recognise(value) {
    const parsed = parsePhpass(value);
    return parsed && { scheme: parsed.algorithm === 'sha512' ? 'DRUPAL7' : 'PHPASS', task: { kind: 'phpass', stored: value, parsed } };
  },
  verify: (password, task) => sameString(phpass(password, task.parsed), task.stored),
  overCeiling: (task, ceilings) => above('phpass log2 rounds', Math.log2(task.parsed.iterations), ceilings.phpassLog2, '--max-phpass-rounds'),
};

const DES: CryptScheme<'des'> = {
  kind: 'des',
  lane: 'fast',
  recognise: (value) => (isDesCrypt(value) ? { scheme: 'DES-CRYPT', task: { kind: 'des', stored: value } } : undefined),
  verify: (password, task) => sameString(desCrypt(password, task.stored), task.stored),
  // A fixed 25 rounds of DES.
  overCeiling: () => undefined,
};

function above(what: string, value: number, ceiling: number, option: string): string | undefined {
  return value > ceiling ? `${what} ${value} is above the ceiling ${ceiling} (${option}): not computed` : undefined;
}

/** In the order values are tried: DES last, since its shape (13 characters of the alphabet) is the loosest. */
const CRYPT_SCHEMES = [MD5CRYPT, SHA_CRYPT, BCRYPT, ARGON2, PHPASS, DES] as const;

const BY_KIND: { readonly [K in CryptKind]: CryptScheme<K> } = { md5crypt: MD5CRYPT, 'sha-crypt': SHA_CRYPT, bcrypt: BCRYPT, argon2: ARGON2, phpass: PHPASS, des: DES };

/** The scheme, lane and parsed task of a crypt string; undefined when it is none we know (or is damaged). */
export function recogniseCryptString(value: string, ceilings: CostCeilings = DEFAULT_COST_CEILINGS): Recognised | undefined {
  for (const entry of CRYPT_SCHEMES) {
    const found = entry.recognise(value);
    if (!found) continue;
    const overCeiling = (entry as CryptScheme<CryptKind>).overCeiling(found.task, ceilings);
    return overCeiling === undefined ? { scheme: found.scheme, lane: entry.lane, task: found.task } : { scheme: found.scheme, lane: entry.lane, task: found.task, overCeiling };
  }
  return undefined;
}

/**
 * The $id$ of every crypt scheme above. A value that starts with one but is not
 * recognised is damaged (a column too short for the hash, typically), not in
 * an unknown scheme, and is reported so.
 */
const KNOWN_CRYPT_ID = /^\$(1|apr1|2[abxy]?|5|6|argon2id?|[PHS])\$/;

export function startsLikeKnownCryptString(value: string): boolean {
  return KNOWN_CRYPT_ID.test(value);
}

/** Check a password against a parsed task, on this thread (pool workers, offline checks). */
export async function verifyCryptTask(password: Buffer, task: CryptTask): Promise<boolean> {
  // One entry per kind, so the casts only restate what BY_KIND's type already says.
  const entry = BY_KIND[task.kind] as CryptScheme<CryptKind>;
  return entry.verify(password, task);
}

/** The crypt schemes `saslauthd-mysql hash` writes, by Dovecot name. */
export const GENERATED_CRYPT_SCHEMES = {
  'SHA512-CRYPT': SHA_CRYPT,
  'SHA256-CRYPT': SHA_CRYPT,
  'BLF-CRYPT': BCRYPT,
  ARGON2ID: ARGON2,
  ARGON2I: ARGON2,
  'MD5-CRYPT': MD5CRYPT,
} as const;

export type GeneratedCryptScheme = keyof typeof GENERATED_CRYPT_SCHEMES;

export function generateCryptString(name: GeneratedCryptScheme, password: Buffer, options: GenerateOptions): Promise<string> {
  return Promise.resolve(GENERATED_CRYPT_SCHEMES[name].generate(name, password, options));
}
