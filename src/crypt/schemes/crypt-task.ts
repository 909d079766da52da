/**
 * A crypt string as the verifier hands it to a lane: its kind, and what was
 * parsed out of it, so nobody downstream parses it again. Plain data, so a
 * pool worker receives it by structured clone.
 */
import type { ParsedMd5Crypt } from './md5crypt.js';
import type { ParsedPhpass } from './phpass.js';
import type { ParsedShaCrypt } from './sha-crypt.js';

/** A stored value, parsed once, as a lane (and a pool worker, by structured clone) receives it. */
export type CryptTask =
  | { readonly kind: 'md5crypt'; readonly stored: string; readonly parsed: ParsedMd5Crypt }
  | { readonly kind: 'des'; readonly stored: string }
  | { readonly kind: 'sha-crypt'; readonly stored: string; readonly parsed: ParsedShaCrypt }
  | { readonly kind: 'bcrypt'; readonly stored: string }
  | { readonly kind: 'argon2'; readonly stored: string }
  | { readonly kind: 'phpass'; readonly stored: string; readonly parsed: ParsedPhpass };

export type CryptKind = CryptTask['kind'];

