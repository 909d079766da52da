import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Md5Scratch, md5Into } from '../../src/crypt/schemes/md5-block.js';

describe('md5Into', () => {
  it('agrees with node:crypto for every input length from 0 to 599 bytes', () => {
    const scratch = new Md5Scratch(600);
    const out = new Uint8Array(16);
    for (let length = 0; length < 600; length += 1) {
      const message = randomBytes(length);
      scratch.bytes.set(message);
      md5Into(scratch, length, out);
      expect(Buffer.from(out).toString('hex'), `length ${length}`).toBe(createHash('md5').update(message).digest('hex'));
    }
  });

  it('matches the RFC 1321 test suite', () => {
    const scratch = new Md5Scratch(100);
    const out = new Uint8Array(16);
    const vectors: Array<[string, string]> = [
      ['', 'd41d8cd98f00b204e9800998ecf8427e'],
      ['a', '0cc175b9c0f1b6a831c399e269772661'],
      ['abc', '900150983cd24fb0d6963f7d28e17f72'],
      ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
      ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', '57edf4a22be3c955ac49da2e2107b67a'],
    ];
    for (const [input, digest] of vectors) {
      scratch.bytes.set(Buffer.from(input));
      md5Into(scratch, input.length, out);
      expect(Buffer.from(out).toString('hex')).toBe(digest);
    }
  });
});
