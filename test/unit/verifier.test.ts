import { describe, expect, it } from 'vitest';
import { verifyPassword } from '../../src/crypt/verifier.js';

const pw = (text: string) => Buffer.from(text, 'utf8');
// openssl passwd -1 -salt demosalt demo
const DEMO_MD5 = '$1$demosalt$K1vsTLMwLUBLOT9dwH/Pn0';
// openssl passwd -apr1 -salt s demo
const DEMO_APR1 = '$apr1$s$ivot4PD6xSB5Bv0TlfEbN/';

describe('verifyPassword dispatch', () => {
  it.each([
    ['{PLAIN}', '{PLAIN}demo', 'PLAIN'],
    ['{plain} (prefixes are case-insensitive)', '{plain}demo', 'PLAIN'],
    ['{CLEARTEXT}', '{CLEARTEXT}demo', 'PLAIN'],
    ['{MD5-CRYPT}', `{MD5-CRYPT}${DEMO_MD5}`, 'MD5-CRYPT'],
    ['{CRYPT} holding md5crypt', `{CRYPT}${DEMO_MD5}`, 'MD5-CRYPT'],
    ['a bare $1$ string', DEMO_MD5, 'MD5-CRYPT'],
    ['a bare $apr1$ string', DEMO_APR1, 'APR1'],
  ])('%s: right password matches, wrong one does not', (_name, stored, scheme) => {
    expect(verifyPassword(pw('demo'), stored, 'CRYPT')).toEqual({ status: 'match', scheme });
    expect(verifyPassword(pw('Demo'), stored, 'CRYPT')).toEqual({ status: 'mismatch', scheme });
    expect(verifyPassword(pw('demo '), stored, 'CRYPT')).toEqual({ status: 'mismatch', scheme });
  });

  it('uses the default scheme for values with neither prefix nor $id$', () => {
    expect(verifyPassword(pw('hunter2'), 'hunter2', 'PLAIN').status).toBe('match');
    expect(verifyPassword(pw('hunter'), 'hunter2', 'PLAIN').status).toBe('mismatch');
    // Under the crypt default, a plain word is not a crypt string this daemon can verify yet.
    expect(verifyPassword(pw('hunter2'), 'hunter2', 'CRYPT').status).toBe('unsupported');
  });

  it('compares plaintext passwords as exact bytes, without normalisation', () => {
    const composed = '{PLAIN}caf\u00e9';
    expect(verifyPassword(pw('caf\u00e9'), composed, 'CRYPT').status).toBe('match');
    expect(verifyPassword(pw('cafe\u0301'), composed, 'CRYPT').status).toBe('mismatch');
  });

  it.each([
    ['an unknown prefix', '{NOPE}abc'],
    ['a scheme not yet supported', '{SHA512-CRYPT}$6$salt$hash'],
    ['a damaged md5crypt string', '$1$salt$tooshort'],
    ['an unknown $id$', '$9$whatever'],
    ['an empty crypt string body', '$'],
  ])('refuses %s as unsupported, never as a match', (_name, stored) => {
    const verdict = verifyPassword(pw('demo'), stored, 'CRYPT');
    expect(verdict.status).toBe('unsupported');
  });
});
