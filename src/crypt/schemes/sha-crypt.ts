/**
 * SHA-crypt ("$5$" SHA-256 and "$6$" SHA-512, Ulrich Drepper's
 * specification), with "rounds=N". PostfixAdmin's current default
 * (php_crypt:SHA512) and Dovecot's {SHA256-CRYPT}/{SHA512-CRYPT}.
 * Thousands of rounds: run it in the worker pool, never on the event loop.
 */
import { hash } from 'node:crypto';
import { encode24 } from '../crypt-base64.js';

const DEFAULT_ROUNDS = 5000;
const MIN_ROUNDS = 1000;
const MAX_ROUNDS = 999_999_999;
const MAX_SALT_LENGTH = 16;

interface Variant {
  readonly algorithm: 'sha256' | 'sha512';
  readonly digestLength: number;
  /** Byte triples (b2, b1, b0) in output order; the last group is shorter. */
  readonly order: readonly (readonly number[])[];
}

const SHA256: Variant = {
  algorithm: 'sha256',
  digestLength: 32,
  order: [[0, 10, 20], [21, 1, 11], [12, 22, 2], [3, 13, 23], [24, 4, 14], [15, 25, 5], [6, 16, 26], [27, 7, 17], [18, 28, 8], [9, 19, 29], [31, 30]],
};

const SHA512: Variant = {
  algorithm: 'sha512',
  digestLength: 64,
  order: [
    [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48], [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10],
    [53, 11, 32], [12, 33, 54], [34, 55, 13], [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41], [63],
  ],
};

export interface ParsedShaCrypt {
  readonly id: '5' | '6';
  readonly rounds: number;
  readonly roundsGiven: boolean;
  readonly salt: string;
}

const PATTERN = /^\$([56])\$(?:rounds=(\d{1,10})\$)?([^$]{0,16})\$([./0-9A-Za-z]+)$/;

export function parseShaCrypt(stored: string): ParsedShaCrypt | undefined {
  const match = PATTERN.exec(stored);
  if (!match) return undefined;
  const id = match[1] as '5' | '6';
  if (match[4]!.length !== (id === '5' ? 43 : 86)) return undefined;
  const given = match[2] !== undefined;
  const rounds = given ? Math.min(MAX_ROUNDS, Math.max(MIN_ROUNDS, Number(match[2]))) : DEFAULT_ROUNDS;
  return { id, rounds, roundsGiven: given, salt: match[3]! };
}

/** Repeat `source` cyclically to `length` bytes. */
function stretch(source: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let offset = 0; offset < length; offset += source.length) source.copy(out, offset, 0, Math.min(source.length, length - offset));
  return out;
}

export function shaCrypt(password: Buffer, parsed: ParsedShaCrypt): string {
  const variant = parsed.id === '5' ? SHA256 : SHA512;
  const H = (data: Buffer): Buffer => hash(variant.algorithm, data, 'buffer');
  const salt = Buffer.from(parsed.salt.slice(0, MAX_SALT_LENGTH), 'latin1');
  const size = variant.digestLength;

  const b = H(Buffer.concat([password, salt, password]));
  const parts: Buffer[] = [password, salt, stretch(b, password.length)];
  for (let bits = password.length; bits > 0; bits >>>= 1) parts.push(bits & 1 ? b : password);
  let c = H(Buffer.concat(parts));

  const pSequence = stretch(H(Buffer.concat(Array<Buffer>(password.length).fill(password))), password.length);
  const sSequence = stretch(H(Buffer.concat(Array<Buffer>(16 + c[0]!).fill(salt))), salt.length);

  // One scratch buffer for every round's input: at most 2 digests or sequences plus the salt and password.
  const scratch = Buffer.alloc(2 * Math.max(size, password.length) + salt.length + password.length);
  for (let round = 0; round < parsed.rounds; round += 1) {
    let length = 0;
    length += (round & 1 ? pSequence : c).copy(scratch, length);
    if (round % 3) length += sSequence.copy(scratch, length);
    if (round % 7) length += pSequence.copy(scratch, length);
    length += (round & 1 ? c : pSequence).copy(scratch, length);
    c = H(scratch.subarray(0, length));
  }
  scratch.fill(0);

  let encoded = '';
  for (const group of variant.order) {
    const value = group.length === 3 ? (c[group[0]!]! << 16) | (c[group[1]!]! << 8) | c[group[2]!]! : group.length === 2 ? (c[group[0]!]! << 8) | c[group[1]!]! : c[group[0]!]!;
    encoded += encode24(value, group.length + 1);
  }
  const rounds = parsed.roundsGiven ? `rounds=${parsed.rounds}$` : '';
  return `$${parsed.id}$${rounds}${parsed.salt.slice(0, MAX_SALT_LENGTH)}$${encoded}`;
}
