import { describe, expect, it } from 'vitest';
import { PasswordDigester, sameDigest } from '../../src/cache/password-digest.js';
import { VerifiedPasswordCache } from '../../src/cache/verified-cache.js';
import { PASSWORDS_PER_USER, RejectedPasswordCache } from '../../src/cache/rejected-cache.js';
import { CredentialCache } from '../../src/cache/credential-cache.js';
import { createHash } from 'node:crypto';

const pw = (text: string) => Buffer.from(text);

describe('cache bounds', () => {
  it('keeps at most its size, dropping the least recently used user', () => {
    const digester = new PasswordDigester();
    const cache = new VerifiedPasswordCache(2);
    for (const user of ['a', 'b']) cache.remember(user, 'stored', 'crypt', digester.once(pw('secret')), { scheme: 'MD5-CRYPT', matched: [0] });
    cache.lookup('a', 'stored', 'crypt', digester.once(pw('secret')));
    cache.remember('c', 'stored', 'crypt', digester.once(pw('secret')), { scheme: 'MD5-CRYPT', matched: [0] });
    const seen = ['a', 'b', 'c'].map((user) => cache.lookup(user, 'stored', 'crypt', digester.once(pw('secret')))?.scheme);
    expect([...seen, cache.size]).toEqual(['MD5-CRYPT', undefined, 'MD5-CRYPT', 2]);
  });
});

describe('PasswordDigester', () => {
  it('is keyed per process: not a plain digest, and different for two digesters', () => {
    const a = new PasswordDigester();
    const b = new PasswordDigester();
    expect(a.digest(pw('secret'))).not.toBe(createHash('md5').update('secret').digest('binary'));
    expect(a.digest(pw('secret'))).not.toBe(createHash('sha256').update('secret').digest('binary'));
    expect(a.digest(pw('secret'))).toHaveLength(32);
    expect(a.digest(pw('secret'))).not.toBe(b.digest(pw('secret')));
    expect(a.matches(pw('secret'), a.digest(pw('secret')))).toBe(true);
    expect(a.matches(pw('Secret'), a.digest(pw('secret')))).toBe(false);
  });
});

describe('VerifiedPasswordCache', () => {
  it('hits only for the same user, stored value, default scheme and password', () => {
    const digester = new PasswordDigester();
    const d = (text: string) => digester.once(pw(text));
    const cache = new VerifiedPasswordCache(10);
    cache.remember('alice', '$1$x$y', 'crypt', d('secret'), { scheme: 'MD5-CRYPT', matched: [0] });
    expect(cache.lookup('alice', '$1$x$y', 'crypt', d('secret'))).toEqual({ scheme: 'MD5-CRYPT', matched: [0] });
    expect(cache.lookup('alice', '$1$x$y', 'crypt', d('wrong'))).toBeUndefined();
    expect(cache.lookup('alice', '$1$x$z', 'crypt', d('secret'))).toBeUndefined();
    expect(cache.lookup('alice', '$1$x$y', 'plain', d('secret'))).toBeUndefined();
    expect(cache.lookup('bob', '$1$x$y', 'crypt', d('secret'))).toBeUndefined();
  });
});

describe('sameDigest', () => {
  it('is true only for equal digests of equal length', () => {
    expect(sameDigest('abc', 'abc')).toBe(true);
    expect(sameDigest('abc', 'abd')).toBe(false);
    expect(sameDigest('xbc', 'abc')).toBe(false);
    expect(sameDigest('abc', 'abcd')).toBe(false);
    expect(sameDigest('\u00ff\u0000', '\u00ff\u0000')).toBe(true);
    expect(sameDigest('\u00ff\u0000', '\u00fe\u0000')).toBe(false);
  });
});

describe('PasswordDigest (one per request)', () => {
  it('digests once, and only when asked', () => {
    const digester = new PasswordDigester();
    let calls = 0;
    const counting = Object.assign(Object.create(digester) as PasswordDigester, {
      digest: (password: Buffer) => {
        calls += 1;
        return digester.digest(password);
      },
    });
    const once = counting.once(pw('secret'));
    expect(calls).toBe(0);
    expect(once.equals(digester.digest(pw('secret')))).toBe(true);
    expect(once.equals(digester.digest(pw('other')))).toBe(false);
    expect(once.value).toBe(digester.digest(pw('secret')));
    expect(calls).toBe(1);
  });
});

describe('RejectedPasswordCache', () => {
  const digester = new PasswordDigester();
  const d = (text: string) => digester.once(pw(text));
  const row = (stored: string, defaultScheme: 'crypt' | 'plain' | undefined = undefined) => ({ stored, defaultScheme });

  it('knows a password that failed against exactly this row, and nothing else', () => {
    const cache = new RejectedPasswordCache(10);
    cache.remember('alice', row('$1$x$y'), d('old-password'), 'MD5-CRYPT');
    expect(cache.lookup('alice', row('$1$x$y'), d('old-password'))).toEqual({ scheme: 'MD5-CRYPT' });
    // Another password, a changed row, another default scheme, another user, no row: all unknown.
    expect(cache.lookup('alice', row('$1$x$y'), d('secret'))).toBeUndefined();
    expect(cache.lookup('alice', row('$1$x$z'), d('old-password'))).toBeUndefined();
    expect(cache.lookup('alice', row('$1$x$y', 'plain'), d('old-password'))).toBeUndefined();
    expect(cache.lookup('bob', row('$1$x$y'), d('old-password'))).toBeUndefined();
    expect(cache.lookup('alice', 'no-usable-row', d('old-password'))).toBeUndefined();
  });

  it(`keeps the last few failed passwords per user`, () => {
    const cache = new RejectedPasswordCache(10);
    const tried = Array.from({ length: PASSWORDS_PER_USER + 1 }, (_, i) => `guess-${i}`);
    for (const guess of tried) cache.remember('alice', row('$1$x$y'), d(guess), 'MD5-CRYPT');
    expect(cache.lookup('alice', row('$1$x$y'), d(tried[0]!))).toBeUndefined();
    for (const guess of tried.slice(1)) expect(cache.lookup('alice', row('$1$x$y'), d(guess))).toBeDefined();
    expect(cache.size).toBe(1);
  });

  it('starts over when the row changes, so old failures cannot refuse a new password', () => {
    const cache = new RejectedPasswordCache(10);
    cache.remember('alice', 'no-usable-row', d('secret'), undefined);
    expect(cache.lookup('alice', 'no-usable-row', d('secret'))).toEqual({ scheme: undefined });
    // The mailbox is created with "secret" as its password: that row has no failures yet.
    cache.remember('alice', row('$1$new$row'), d('typo'), 'MD5-CRYPT');
    expect(cache.lookup('alice', row('$1$new$row'), d('secret'))).toBeUndefined();
    expect(cache.lookup('alice', 'no-usable-row', d('secret'))).toBeUndefined();
  });

  it('is bounded: a flood of made-up names keeps at most its size', () => {
    const cache = new RejectedPasswordCache(100);
    for (let i = 0; i < 1000; i += 1) cache.remember(`nobody-${i}`, 'no-usable-row', d('guess'), undefined);
    expect(cache.size).toBe(100);
    expect(cache.lookup('nobody-999', 'no-usable-row', d('guess'))).toBeDefined();
    expect(cache.lookup('nobody-0', 'no-usable-row', d('guess'))).toBeUndefined();
  });
});

describe('CredentialCache', () => {
  it('keys by login, realm and service, and expires', async () => {
    const cache = new CredentialCache(10, 50, new PasswordDigester());
    cache.remember('alice@example.org', 'example.org', 'smtp', pw('secret'));
    expect(cache.hit('alice@example.org', 'example.org', 'smtp', pw('secret'))).toBe(true);
    expect(cache.hit('alice@example.org', 'example.org', 'imap', pw('secret'))).toBe(false);
    expect(cache.hit('alice@example.org', 'example.org', 'smtp', pw('other'))).toBe(false);
    await new Promise((r) => setTimeout(r, 60));
    expect(cache.hit('alice@example.org', 'example.org', 'smtp', pw('secret'))).toBe(false);
  });
});
