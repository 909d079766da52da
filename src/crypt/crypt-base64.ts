/** The crypt(3) alphabet: "./0-9A-Za-z", least significant six bits first. */
export const CRYPT_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Append `count` characters encoding the low bits of `value`, as crypt's b64_from_24bit does. */
export function encode24(value: number, count: number): string {
  let out = '';
  for (let i = 0; i < count; i += 1) {
    out += CRYPT_ALPHABET[value & 0x3f];
    value >>>= 6;
  }
  return out;
}
