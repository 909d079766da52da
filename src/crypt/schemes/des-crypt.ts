/**
 * Traditional DES crypt(3): 13 characters, 2 of them salt. Only the first
 * eight bytes of the password count, 7 bits of each: that is the format.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const unixCrypt = require('unix-crypt-td-js') as (password: string, salt: string) => string;

const PATTERN = /^[./0-9A-Za-z]{13}$/;

export function isDesCrypt(stored: string): boolean {
  return PATTERN.test(stored);
}

export function desCrypt(password: Buffer, stored: string): string {
  // The library reads char codes; latin1 maps each byte to the char code of the same value.
  return unixCrypt(password.toString('latin1'), stored.slice(0, 2));
}
