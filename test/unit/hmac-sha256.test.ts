import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { HmacSha256 } from '../../src/common/hmac-sha256.js';

const reference = (key: Uint8Array, message: Uint8Array) => createHmac('sha256', key).update(message).digest('binary');

describe('HmacSha256', () => {
  it('is HMAC-SHA256: RFC 4231 test case 2', () => {
    const digest = new HmacSha256(Buffer.from('Jefe')).digest(Buffer.from('what do ya want for nothing?'));
    expect(Buffer.from(digest, 'latin1').toString('hex')).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('gives what createHmac gives, for any key up to a block and any message, the long ones included', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(fc.uint8Array({ maxLength: 1500 }), { minLength: 1, maxLength: 4 }), (key, messages) => {
        const hmac = new HmacSha256(Buffer.from(key));
        // One instance, several messages in turn: nothing of one message is left to change the next one's digest.
        for (const message of messages) expect(hmac.digest(Buffer.from(message))).toBe(reference(key, message));
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ['a password', 28],
    ['a message longer than the buffer it keeps', 5000],
  ])('leaves no byte of %s where it copied it', (_, length) => {
    const hmac = new HmacSha256(Buffer.alloc(32, 7));
    const secret = Buffer.alloc(length, 0xa5);
    // Wherever the message's bytes were copied to, they must be gone once the digest is returned.
    const copy = vi.spyOn(Buffer.prototype, 'copy');
    try {
      hmac.digest(secret);
      const targets = copy.mock.calls.filter((_call, index) => copy.mock.contexts[index] === secret).map(([target, at]) => [target as Buffer, Number(at ?? 0)] as const);
      expect(targets.length).toBeGreaterThan(0);
      for (const [target, at] of targets) expect(target.subarray(at, at + length).every((byte) => byte === 0)).toBe(true);
    } finally {
      copy.mockRestore();
    }
  });

  it('refuses a key longer than a block (HMAC would hash it first)', () => {
    expect(() => new HmacSha256(Buffer.alloc(65))).toThrow(RangeError);
  });
});
