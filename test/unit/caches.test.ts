import { describe, expect, it } from 'vitest';
import { Lru } from '../../src/cache/lru.js';
import { PasswordDigester } from '../../src/cache/password-digest.js';
import { VerifiedPasswordCache } from '../../src/cache/verified-cache.js';
import { CredentialCache } from '../../src/cache/credential-cache.js';
import { createHash } from 'node:crypto';

const pw = (text: string) => Buffer.from(text);

describe('Lru', () => {
  it('keeps at most its size, dropping the least recently used', () => {
    const lru = new Lru<number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    lru.get('a');
    lru.set('c', 3);
    expect([lru.get('a'), lru.get('b'), lru.get('c'), lru.size]).toEqual([1, undefined, 3, 2]);
  });

  it('holds nothing at size 0', () => {
    const lru = new Lru<number>(0);
    lru.set('a', 1);
    expect(lru.size).toBe(0);
  });
});

describe('PasswordDigester', () => {
  it('is keyed per process: not a plain digest, and different for two digesters', () => {
    const a = new PasswordDigester();
    const b = new PasswordDigester();
    expect(a.digest(pw('secret')).equals(createHash('md5').update('secret').digest())).toBe(false);
    expect(a.digest(pw('secret')).equals(createHash('sha256').update('secret').digest())).toBe(false);
    expect(a.digest(pw('secret')).equals(b.digest(pw('secret')))).toBe(false);
    expect(a.matches(pw('secret'), a.digest(pw('secret')))).toBe(true);
    expect(a.matches(pw('Secret'), a.digest(pw('secret')))).toBe(false);
  });
});

describe('VerifiedPasswordCache', () => {
  it('hits only for the same user, stored value, default scheme and password', () => {
    const cache = new VerifiedPasswordCache(10, new PasswordDigester());
    cache.remember('alice', '$1$x$y', 'crypt', pw('secret'), 'MD5-CRYPT');
    expect(cache.lookup('alice', '$1$x$y', 'crypt', pw('secret'))).toBe('MD5-CRYPT');
    expect(cache.lookup('alice', '$1$x$y', 'crypt', pw('wrong'))).toBeUndefined();
    expect(cache.lookup('alice', '$1$x$z', 'crypt', pw('secret'))).toBeUndefined();
    expect(cache.lookup('alice', '$1$x$y', 'plain', pw('secret'))).toBeUndefined();
    expect(cache.lookup('bob', '$1$x$y', 'crypt', pw('secret'))).toBeUndefined();
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
