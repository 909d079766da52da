/**
 * Traditional DES crypt(3): 13 characters, 2 of them salt. Only the first
 * eight bytes of the password count, 7 bits of each: that is the format.
 *
 * libxcrypt computes DES through the native addon; this JavaScript is the
 * fallback for a daemon built without a compiler, and for what the addon
 * cannot take (a password with a NUL byte). unix-crypt-td-js is no longer
 * maintained, so it is loaded only when a DES value actually gets here.
 */
import { createRequire } from 'node:module';

type UnixCrypt = (password: string, salt: string) => string;
let unixCrypt: UnixCrypt | undefined;

const PATTERN = /^[./0-9A-Za-z]{13}$/;

export function isDesCrypt(stored: string): boolean {
  return PATTERN.test(stored);
}

export function desCrypt(password: Buffer, stored: string): string {
  unixCrypt ??= createRequire(import.meta.url)('unix-crypt-td-js') as UnixCrypt;
  // The library reads char codes; latin1 maps each byte to the char code of the same value.
  return unixCrypt(password.toString('latin1'), stored.slice(0, 2));
}
