import { describe, expect, it } from 'vitest';
import { md5crypt, parseMd5Crypt } from '../../src/crypt/schemes/md5crypt.js';
import { md5cryptVectors } from '../helpers/vectors.js';

/** Made by OpenSSL and libxcrypt: see make-md5crypt-vectors.sh beside the file. */
const vectors = md5cryptVectors();

describe('md5crypt against independent implementations', () => {
  it('has vectors from both OpenSSL and libxcrypt', () => {
    expect(new Set(vectors.map((v) => v.maker))).toEqual(new Set(['openssl-1', 'openssl-apr1', 'libxcrypt']));
  });

  for (const { maker, password, hash } of vectors) {
    it(`${maker}: reproduces ${hash}`, () => {
      const parsed = parseMd5Crypt(hash);
      expect(parsed).toBeDefined();
      expect(md5crypt(password, parsed!.salt, parsed!.magic)).toBe(hash);
    });
  }
});

describe('parseMd5Crypt', () => {
  it('splits magic and salt', () => {
    expect(parseMd5Crypt('$1$saltsalt$BsXyQbZiQujHkdhwPwdol.')).toEqual({ magic: '$1$', salt: 'saltsalt' });
    expect(parseMd5Crypt('$apr1$$f1IMwtg22crHOHEkohkcn/')).toEqual({ magic: '$apr1$', salt: '' });
  });

  it.each([
    ['no hash part', '$1$saltsalt'],
    ['a hash of the wrong length', '$1$salt$abc'],
    ['a salt past eight characters', '$1$ninechars$BsXyQbZiQujHkdhwPwdol.'],
    ['characters outside the crypt alphabet', '$1$sa!t$BsXyQbZiQujHkdhwPwdol.'],
    ['another scheme', '$6$salt$BsXyQbZiQujHkdhwPwdol.'],
    ['plain text', 'secret'],
  ])('refuses %s', (_name, stored) => {
    expect(parseMd5Crypt(stored)).toBeUndefined();
  });
});
