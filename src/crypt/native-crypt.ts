/**
 * The optional native addon (native/src/crypt_addon.c): crypt(3) checks by
 * libxcrypt, the library pam_mysql's crypt=1 uses, on libuv's thread pool.
 * It is built by "npm run build" where a C compiler and libcrypt-dev are
 * present; without it the daemon computes the same schemes in JavaScript.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface NativeCrypt {
  /**
   * true or false: the password does or does not produce `stored`; null: libxcrypt
   * cannot use `stored`. Throws for a password of 512 bytes or more or with a NUL
   * byte (crypt(3) would read it cut short): see canCheckNatively.
   */
  verify(password: Buffer, stored: string): Promise<boolean | null>;
  /** The same check on the calling thread, for when a hand-off would cost more than the check. */
  verifySync(password: Buffer, stored: string): boolean | null;
}

export type NativeCryptLoad = { readonly loaded: true; readonly binding: NativeCrypt; readonly file: string } | { readonly loaded: false; readonly reason: string };

/** Same place from dist/crypt and, under the test runner, from src/crypt. */
export const NATIVE_ADDON_FILE = fileURLToPath(new URL('../../native/build/Release/saslauthd_mysql_crypt.node', import.meta.url));

let loaded: NativeCryptLoad | undefined;

export function loadNativeCrypt(): NativeCryptLoad {
  if (loaded) return loaded;
  if (!existsSync(NATIVE_ADDON_FILE)) {
    loaded = { loaded: false, reason: `${NATIVE_ADDON_FILE} is not built (it is built where g++, make, python3 and libcrypt-dev are installed: by npm run build in a checkout, by npm rebuild -g saslauthd-mysql in an installed package)` };
    return loaded;
  }
  try {
    const binding = createRequire(import.meta.url)(NATIVE_ADDON_FILE) as NativeCrypt;
    if (typeof binding.verify !== 'function' || typeof binding.verifySync !== 'function') throw new Error('it is not this version\'s addon (run "npm run build")');
    loaded = { loaded: true, binding, file: NATIVE_ADDON_FILE };
  } catch (error) {
    loaded = { loaded: false, reason: `${NATIVE_ADDON_FILE} did not load: ${(error as Error).message}` };
  }
  return loaded;
}

/** The addon's own bounds: libxcrypt's passphrase limit, no NUL, a printable-ASCII stored value. */
const MAX_PASSWORD_BYTES = 511;
const MAX_STORED_CHARS = 382;
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

export function canCheckNatively(password: Buffer, stored: string): boolean {
  return password.length <= MAX_PASSWORD_BYTES && !password.includes(0) && stored.length <= MAX_STORED_CHARS && PRINTABLE_ASCII.test(stored);
}
