/**
 * Every value "saslauthd-mysql hash" writes must verify with our verifier
 * and, for the crypt(3) schemes, with libxcrypt (the C library behind the old
 * chain's pam_mysql crypt=1), so a rollback still logs users in.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { HASH_SCHEMES, makeStoredValue, readableByCrypt3 } from '../../src/crypt/make-stored-value.js';
import { describeStoredValue, verifyOnThisThread } from '../../src/crypt/verifier.js';

const PASSWORD = Buffer.from('Korrekt Pferd Batterie Heftklammer ü');

/** libxcrypt's crypt(3), through Debian's python3 (its crypt module links libcrypt). */
function crypt3(password: Buffer, stored: string): string {
  const script = 'import crypt, sys; print(crypt.crypt(sys.argv[1].encode("latin1").decode("utf8"), sys.argv[2]))';
  return execFileSync('/usr/bin/python3', ['-W', 'ignore', '-c', script, password.toString('latin1'), stored], { encoding: 'utf8' }).trim();
}

describe('makeStoredValue', () => {
  it.each(HASH_SCHEMES)('%s: verifies with the right password only, and is named as written', async (scheme) => {
    const value = await makeStoredValue(scheme, PASSWORD, { cost: 5 });
    expect(await verifyOnThisThread(PASSWORD, value, 'crypt')).toBe(true);
    expect(await verifyOnThisThread(Buffer.from('Korrekt Pferd'), value, 'crypt')).toBe(false);
    expect(describeStoredValue(value, 'crypt')).toMatchObject({ supported: true, scheme: scheme === 'MD5-CRYPT' ? 'MD5-CRYPT' : scheme });
  });

  it.each(['MD5-CRYPT', 'SHA256-CRYPT', 'SHA512-CRYPT', 'BLF-CRYPT'] as const)('%s: libxcrypt computes the same value (the old chain can read it)', async (scheme) => {
    const value = await makeStoredValue(scheme, PASSWORD, { cost: 5 });
    expect(readableByCrypt3(scheme, {})).toBe(true);
    expect(crypt3(PASSWORD, value)).toBe(value);
  });

  it('writes rounds and cost when asked, and refuses values out of range', async () => {
    expect(await makeStoredValue('SHA512-CRYPT', PASSWORD, { rounds: 10_000 })).toMatch(/^\$6\$rounds=10000\$[./0-9A-Za-z]{16}\$/);
    expect(await makeStoredValue('BLF-CRYPT', PASSWORD, { cost: 6 })).toMatch(/^\$2b\$06\$/);
    await expect(makeStoredValue('SHA512-CRYPT', PASSWORD, { rounds: 999 })).rejects.toThrow(/rounds/);
    await expect(makeStoredValue('BLF-CRYPT', PASSWORD, { cost: 3 })).rejects.toThrow(/cost/);
    await expect(makeStoredValue('BLF-CRYPT', Buffer.alloc(73, 0x61))).rejects.toThrow(/72 bytes/);
  });

  it('prefixes {SCHEME} when asked, and always for the salted digests', async () => {
    expect(await makeStoredValue('SHA512-CRYPT', PASSWORD, { prefix: true })).toMatch(/^\{SHA512-CRYPT\}\$6\$/);
    expect(await makeStoredValue('SSHA512', PASSWORD)).toMatch(/^\{SSHA512\}/);
    expect(readableByCrypt3('SHA512-CRYPT', { prefix: true })).toBe(false);
  });

  it('salts every value afresh', async () => {
    const values = await Promise.all(Array.from({ length: 5 }, () => makeStoredValue('MD5-CRYPT', PASSWORD)));
    expect(new Set(values).size).toBe(5);
  });
});
