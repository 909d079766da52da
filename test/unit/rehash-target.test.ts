/** Re-hashing's crypt side: which targets are allowed, what counts as weaker, and the new value's form. */
import { describe, expect, it } from 'vitest';
import { inStoredForm, isWeaker, parseRehashTarget, type RehashTarget } from '../../src/crypt/rehash-target.js';

const target = (name: string, cost?: number): RehashTarget => {
  const parsed = parseRehashTarget(name, cost);
  if ('problem' in parsed) throw new Error(parsed.problem);
  return parsed;
};

describe('parseRehashTarget', () => {
  it('takes the crypt(3) schemes, with their usual costs', () => {
    expect(target('sha512-crypt')).toEqual({ scheme: 'SHA512-CRYPT', cost: 5000 });
    expect(target('BLF-CRYPT')).toEqual({ scheme: 'BLF-CRYPT', cost: 10 });
    expect(target('SHA256-CRYPT', 20000)).toEqual({ scheme: 'SHA256-CRYPT', cost: 20000 });
  });

  it('refuses what crypt(3) cannot read, saying why, and costs out of range', () => {
    expect(parseRehashTarget('ARGON2ID', undefined)).toEqual({ problem: expect.stringMatching(/crypt\(3\) cannot read it, so a rollback to pam_mysql crypt=1/) });
    expect(parseRehashTarget('SSHA512', undefined)).toEqual({ problem: expect.stringMatching(/crypt\(3\) cannot read it/) });
    expect(parseRehashTarget('ROT13', undefined)).toEqual({ problem: expect.stringMatching(/choose one of SHA512-CRYPT/) });
    expect(parseRehashTarget('BLF-CRYPT', 40)).toEqual({ problem: 'BLF-CRYPT takes a cost from 4 to 31' });
    expect(parseRehashTarget('MD5-CRYPT', 5)).toEqual({ problem: 'MD5-CRYPT has no cost to set; leave rehash_cost out' });
  });
});

describe('isWeaker', () => {
  const sha512 = target('SHA512-CRYPT');
  it.each([
    ['$1$salt$hash', 'MD5-CRYPT', true],
    ['{PLAIN}secret', 'PLAIN', true],
    ['{SSHA512}abc', 'SSHA512', true],
    ['5ebe2294ecd0e0f08eab7690d2a6ee69', 'MD5', true],
    ['$5$salt$' + 'a'.repeat(43), 'SHA256-CRYPT', true],
    ['$6$salt$' + 'a'.repeat(86), 'SHA512-CRYPT', false],
    ['$6$rounds=4000$salt$' + 'a'.repeat(86), 'SHA512-CRYPT', true],
    ['$6$rounds=9000$salt$' + 'a'.repeat(86), 'SHA512-CRYPT', false],
    ['$2y$10$' + 'a'.repeat(53), 'BLF-CRYPT', false],
    ['$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g', 'ARGON2ID', false],
  ])('%s (%s) is weaker than SHA512-CRYPT at 5000 rounds: %s', (stored, scheme, weaker) => {
    expect(isWeaker(stored, scheme, sha512, 6)).toBe(weaker);
  });

  it('raises bcrypt cost and sha-crypt rounds when the target asks for more', () => {
    expect(isWeaker('$2y$10$' + 'a'.repeat(53), 'BLF-CRYPT', target('BLF-CRYPT', 12), 6)).toBe(true);
    expect(isWeaker('$6$salt$' + 'a'.repeat(86), 'SHA512-CRYPT', target('SHA512-CRYPT', 10000), 6)).toBe(true);
  });

  it('never lowers the work a value asks of a guesser, across schemes', () => {
    expect(isWeaker('$5$rounds=200000$salt$' + 'a'.repeat(43), 'SHA256-CRYPT', sha512, 6)).toBe(false);
    expect(isWeaker('$5$rounds=200000$salt$' + 'a'.repeat(43), 'SHA256-CRYPT', target('SHA512-CRYPT', 200000), 6)).toBe(true);
    expect(isWeaker('$2y$12$' + 'a'.repeat(53), 'BLF-CRYPT', target('SHA512-CRYPT', 100000), 6)).toBe(false);
  });

  it('re-hashes only a password the match proved whole, and writes bcrypt only for what it keeps whole', () => {
    // DES reads 8 bytes: "passwordTYPO" matches a DES value of "password123".
    expect(isWeaker('abJnggxhB/yWI', 'DES-CRYPT', sha512, 8)).toBe(true);
    expect(isWeaker('abJnggxhB/yWI', 'DES-CRYPT', sha512, 12)).toBe(false);
    expect(isWeaker('$2y$04$' + 'a'.repeat(53), 'BLF-CRYPT', target('BLF-CRYPT', 12), 72)).toBe(true);
    expect(isWeaker('$2y$04$' + 'a'.repeat(53), 'BLF-CRYPT', target('BLF-CRYPT', 12), 73)).toBe(false);
    expect(isWeaker('$1$salt$hash', 'MD5-CRYPT', target('BLF-CRYPT'), 73)).toBe(false);
    expect(isWeaker('$1$salt$hash', 'MD5-CRYPT', target('SHA512-CRYPT'), 200)).toBe(true);
  });
});

describe('inStoredForm', () => {
  it('keeps a {SCHEME} prefix when the old value had one, and none when it had none', () => {
    const sha512 = target('SHA512-CRYPT');
    expect(inStoredForm('{MD5-CRYPT}$1$a$b', '$6$new', sha512)).toBe('{SHA512-CRYPT}$6$new');
    expect(inStoredForm('{CRYPT}$1$a$b', '$6$new', sha512)).toBe('{SHA512-CRYPT}$6$new');
    expect(inStoredForm('$1$a$b', '$6$new', sha512)).toBe('$6$new');
  });
});
