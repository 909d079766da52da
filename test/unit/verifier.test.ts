/**
 * Every stored format against vectors made by independent implementations
 * (test/vectors/make-hash-vectors.sh says which and how).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { PasswordVerifier } from '../../src/crypt/verifier.js';
import { VerifyPools } from '../../src/crypt/verify-pool.js';
import { parseDefaultScheme, type DefaultScheme } from '../../src/crypt/default-scheme.js';
import { DEMO_HASH } from '../helpers/daemon.js';
import { hashVectors } from '../helpers/vectors.js';
import { requireNativeCrypt } from '../helpers/native.js';

interface Vector {
  maker: string;
  label: string;
  password: Buffer;
  defaultScheme: DefaultScheme;
  stored: string;
}

const vectors: Vector[] = hashVectors().map(({ defaultName, ...row }) => ({ ...row, defaultScheme: defaultName === '-' ? 'crypt' : parseDefaultScheme(defaultName)! }));

const pool = new VerifyPools({ threads: 2, maxQueue: 1000 });
// The same vectors through libxcrypt (the native addon) for md5crypt and DES, the rest unchanged.
const nativePool = new VerifyPools({ threads: 2, maxQueue: 1000 }, requireNativeCrypt());
afterAll(() => Promise.all([pool.close(), nativePool.close()]));
const verifiers = new Map<string, PasswordVerifier>();
function verifier(defaultScheme: DefaultScheme, engine: 'js' | 'native' = 'js'): PasswordVerifier {
  const key = `${engine}:${defaultScheme}`;
  if (!verifiers.has(key)) verifiers.set(key, new PasswordVerifier({ defaultScheme, pools: engine === 'js' ? pool : nativePool }));
  return verifiers.get(key)!;
}

/** A different password that every scheme must see as different: DES reads only 8 bytes and bcrypt 72, so change the first. */
function wrong(password: Buffer): Buffer {
  const copy = Buffer.from(password);
  copy[0] = copy[0]! ^ 0x01;
  return copy;
}

describe('vectors from independent implementations', () => {
  it('cover every maker and format the issue names', () => {
    const makers = new Set(vectors.map((v) => v.maker));
    for (const maker of ['doveadm', 'libxcrypt', 'passlib', 'python-bcrypt', 'argon2-cffi', 'htpasswd', 'php', 'mariadb', 'hashcat']) expect(makers).toContain(maker);
    const stored = vectors.map((v) => v.stored).join('\n');
    for (const marker of ['$1$', '$apr1$', '$5$', '$6$', 'rounds=', '$2a$', '$2b$', '$2y$', '$argon2i$', '$argon2id$', '$S$', '$P$', '$H$', '{SHA512-CRYPT.B64}', '{SSHA512}', '{SMD5}', '{LDAP-MD5}', '{PLAIN-MD5}', '.HEX}', '.B64}', '{md5raw}']) {
      expect(stored).toContain(marker);
    }
    expect(vectors.some((v) => v.password.toString('utf8').includes('\ufffd'))).toBe(true);
  });

  for (const engine of ['js', 'native'] as const) {
    for (const vector of vectors) {
      it(`${engine}: ${vector.maker}: ${vector.label} (${vector.password.toString('utf8')}, default ${vector.defaultScheme})`, async () => {
        const check = verifier(vector.defaultScheme, engine);
        const verdict = await check.verify(vector.password, vector.stored);
        expect(verdict.status).toBe('match');
        expect((await check.verify(wrong(vector.password), vector.stored)).status).toBe('mismatch');
        // One byte more, one byte less: a compare that accepts a prefix, or stops early, fails here.
        // Only the formats' own limits are exempt: DES reads 8 bytes of a password, bcrypt 72.
        const significant = verdict.scheme === 'DES-CRYPT' ? 8 : verdict.scheme === 'BLF-CRYPT' ? 72 : Infinity;
        if (vector.password.length < significant) expect((await check.verify(Buffer.concat([vector.password, Buffer.from('x')]), vector.stored)).status).toBe('mismatch');
        if (vector.password.length <= significant) expect((await check.verify(vector.password.subarray(0, -1), vector.stored)).status).toBe('mismatch');
      });
    }
  }
});

describe('dispatch', () => {
  it('reads a prefix before the $id$, and the $id$ before the default', async () => {
    // A {PLAIN} value that looks like a crypt string is still plaintext.
    expect(await verifier('crypt').verify(Buffer.from(DEMO_HASH), `{PLAIN}${DEMO_HASH}`)).toEqual({ status: 'match', scheme: 'PLAIN' });
    // Under a plaintext default, a $1$ value is still md5crypt.
    expect(await verifier('plain').verify(Buffer.from('demo'), DEMO_HASH)).toEqual({ status: 'match', scheme: 'MD5-CRYPT' });
  });

  it('hands a plaintext password that merely starts with "$" to a plaintext default', async () => {
    expect((await verifier('plain').verify(Buffer.from('$ecret'), '$ecret')).status).toBe('match');
  });

  it.each([
    ['an unknown prefix', '{SCRAM-SHA-256}abc', 'crypt', 'unsupported'],
    ['a damaged md5crypt string', '$1$salt$tooshort', 'crypt', 'malformed'],
    ['an unknown $id$', '$9$whatever', 'crypt', 'unsupported'],
    ['a bare "$"', '$', 'crypt', 'unsupported'],
    ['a word under the crypt default', 'hunter2', 'crypt', 'unsupported'],
    ['a sha-crypt string of the wrong length', '$6$salt$abc', 'crypt', 'malformed'],
    ['a bcrypt string with a bad cost', `$2y$99$${'a'.repeat(53)}`, 'crypt', 'malformed'],
    ['{SHA256} of the wrong length', '{SHA256}abcd', 'crypt', 'malformed'],
    ['{SSHA} with no salt', '{SSHA}5en6G6MezRroT3XKqkdPOmY/BfQ=', 'crypt', 'malformed'],
    ['{SHA512-CRYPT.B64} that is not base64', '{SHA512-CRYPT.B64}!!!', 'crypt', 'malformed'],
    ['hex digest of the wrong length under the md5 default', 'abcdef', 'md5', 'malformed'],
    ['a non-hex md5 default value', 'z'.repeat(32), 'md5', 'malformed'],
    ['a PASSWORD() value without "*"', 'A'.repeat(41), 'mysql', 'malformed'],
    ['a joomla15 value without salt', 'a'.repeat(32), 'joomla15', 'malformed'],
    ['a Drupal 7 default value that is not $S$', 'abc', 'drupal7', 'unsupported'],
    ['a phpass string with a cost out of range', `$P$Z${'a'.repeat(30)}`, 'crypt', 'malformed'],
  ] as const)('refuses %s as %s (a problem of the row, never a match)', async (_name, stored, defaultScheme, status) => {
    const verdict = await verifier(defaultScheme).verify(Buffer.from('secret'), stored);
    expect(verdict.status).toBe(status);
  });

  it.each([
    ['"!" in front of a hash (passwd -l)', '!$1$demosalt$K1vsTLMwLUBLOT9dwH/Pn0', 'crypt'],
    ['"!!" (useradd, no password yet)', '!!', 'crypt'],
    ['a lone "*"', '*', 'crypt'],
    ['"*LK*"', '*LK*', 'md5'],
  ] as const)('reads %s as a locked account', async (_name, stored, defaultScheme) => {
    expect((await verifier(defaultScheme).verify(Buffer.from('demo'), stored)).status).toBe('locked');
  });

  it('does not mistake a MySQL 4.1 hash, or a plain-text password starting with "!", for a lock', async () => {
    expect((await verifier('mysql').verify(Buffer.from('secret'), '*14E65567ABDB5135D0CFD9A70B3032C179A49EE7')).status).toBe('match');
    expect((await verifier('plain').verify(Buffer.from('!secret'), '!secret')).status).toBe('match');
  });

  it('accepts pam_mysql crypt= numbers, names and Y/N', () => {
    expect(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'].map(parseDefaultScheme)).toEqual(['plain', 'crypt', 'mysql', 'md5', 'sha1', 'drupal7', 'joomla15', 'ssha', 'sha512', 'sha256']);
    expect(parseDefaultScheme('Y')).toBe('crypt');
    expect(parseDefaultScheme('n')).toBe('plain');
    expect(parseDefaultScheme('SHA256')).toBe('sha256');
    expect(parseDefaultScheme('rot13')).toBeUndefined();
  });

  it('spends time on a dummy hash of every default scheme without failing', async () => {
    for (const scheme of ['plain', 'crypt', 'mysql', 'md5', 'sha1', 'drupal7', 'joomla15', 'ssha', 'sha512', 'sha256'] as const) {
      await expect(verifier(scheme).verifyDummy(Buffer.from('anything'))).resolves.toBeUndefined();
    }
  });
});

describe('the worker pool', () => {
  // htpasswd -bnBC 12 u secret: about a quarter of a second per check.
  const BCRYPT_12 = '$2y$12$YcI8aVthhItc4jD/VXCwfe0/hfcrKTenW8i1AJ4g8zqy0m60T4iaG';

  it('keeps the event loop free: a plaintext login is answered while bcrypt runs', async () => {
    const check = verifier('crypt');
    const burst = Array.from({ length: 4 }, () => check.verify(Buffer.from('secret'), BCRYPT_12));
    const started = performance.now();
    const quick = await check.verify(Buffer.from('x'), '{PLAIN}x');
    const quickMs = performance.now() - started;
    expect(quick.status).toBe('match');
    const results = await Promise.all(burst);
    const burstMs = performance.now() - started;
    expect(results.map((r) => r.status)).toEqual(['match', 'match', 'match', 'match']);
    // The plaintext answer did not wait for the burst (which takes hundreds of milliseconds).
    expect(quickMs * 10).toBeLessThan(burstMs);
  });

  it('does not queue md5crypt logins behind a bcrypt burst: they have their own lane', async () => {
    const lanes = new VerifyPools({ threads: 1, maxQueue: 100 });
    try {
      const check = new PasswordVerifier({ defaultScheme: 'crypt', pools: lanes });
      // Eight bcrypt checks on one slow-lane thread: two seconds of queue.
      const burst = Array.from({ length: 8 }, () => check.verify(Buffer.from('secret'), BCRYPT_12));
      const started = performance.now();
      expect((await check.verify(Buffer.from('demo'), DEMO_HASH)).status).toBe('match');
      const md5Ms = performance.now() - started;
      await Promise.all(burst);
      expect(md5Ms * 5).toBeLessThan(performance.now() - started);
    } finally {
      await lanes.close();
    }
  });

  it('answers "overloaded" (a temporary failure) past the queue bound, never "mismatch"', async () => {
    const small = new VerifyPools({ threads: 1, maxQueue: 2 });
    try {
      const check = new PasswordVerifier({ defaultScheme: 'crypt', pools: small });
      const verdicts = await Promise.all(Array.from({ length: 8 }, () => check.verify(Buffer.from('secret'), BCRYPT_12)));
      const statuses = verdicts.map((v) => v.status);
      expect(statuses).toContain('overloaded');
      expect(statuses).toContain('match');
      expect(statuses).not.toContain('mismatch');
    } finally {
      await small.close();
    }
  });

  it('drops a queued verification whose request was abandoned', async () => {
    const small = new VerifyPools({ threads: 1, maxQueue: 10 });
    try {
      const check = new PasswordVerifier({ defaultScheme: 'crypt', pools: small });
      const busy = check.verify(Buffer.from('secret'), BCRYPT_12);
      const abort = new AbortController();
      const queued = check.verify(Buffer.from('secret'), BCRYPT_12, { cancellation: abort });
      abort.abort();
      expect((await queued).status).toBe('abandoned');
      expect((await busy).status).toBe('match');
    } finally {
      await small.close();
    }
  });
});
