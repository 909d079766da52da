/**
 * Portable PHP password hashes: phpass "$P$"/"$H$" (iterated MD5, WordPress,
 * phpBB) and Drupal 7 "$S$" (iterated SHA-512, pam_mysql crypt=5).
 * Up to 2^30 iterations: run in the worker pool.
 */
import { hash } from 'node:crypto';
import { CRYPT_ALPHABET } from '../crypt-base64.js';

export interface ParsedPhpass {
  readonly algorithm: 'md5' | 'sha512';
  readonly iterations: number;
  /** "$P$" + cost character + 8-character salt. */
  readonly setting: string;
  readonly salt: string;
  /** Length of the whole stored string (Drupal 7 cuts its output to 55). */
  readonly length: number;
}

const PATTERN = /^\$([PHS])\$([./0-9A-Za-z])([./0-9A-Za-z]{8})([./0-9A-Za-z]+)$/;

export function parsePhpass(stored: string): ParsedPhpass | undefined {
  const match = PATTERN.exec(stored);
  if (!match) return undefined;
  const isDrupal = match[1] === 'S';
  const log2 = CRYPT_ALPHABET.indexOf(match[2]!);
  // phpass accepts 2^7..2^30 iterations; Drupal 7 the same range.
  if (log2 < 7 || log2 > 30) return undefined;
  const expected = isDrupal ? 55 : 34;
  if (stored.length !== expected) return undefined;
  return { algorithm: isDrupal ? 'sha512' : 'md5', iterations: 2 ** log2, setting: stored.slice(0, 12), salt: match[3]!, length: expected };
}

/** phpass's own base64: little-endian 24-bit groups, trailing partial group. */
function encode64(input: Buffer): string {
  let output = '';
  let i = 0;
  while (i < input.length) {
    let value = input[i++]!;
    output += CRYPT_ALPHABET[value & 0x3f];
    if (i < input.length) value |= input[i]! << 8;
    output += CRYPT_ALPHABET[(value >> 6) & 0x3f];
    if (i++ >= input.length) break;
    if (i < input.length) value |= input[i]! << 16;
    output += CRYPT_ALPHABET[(value >> 12) & 0x3f];
    if (i++ >= input.length) break;
    output += CRYPT_ALPHABET[(value >> 18) & 0x3f];
  }
  return output;
}

export function phpass(password: Buffer, parsed: ParsedPhpass): string {
  let digest = hash(parsed.algorithm, Buffer.concat([Buffer.from(parsed.salt, 'latin1'), password]), 'buffer');
  const scratch = Buffer.alloc(digest.length + password.length);
  password.copy(scratch, digest.length);
  for (let i = 0; i < parsed.iterations; i += 1) {
    digest.copy(scratch, 0);
    digest = hash(parsed.algorithm, scratch, 'buffer');
  }
  scratch.fill(0);
  return (parsed.setting + encode64(digest)).slice(0, parsed.length);
}
