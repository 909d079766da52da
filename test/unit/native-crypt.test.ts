/**
 * The native addon (libxcrypt) against the JavaScript implementations it
 * stands in for: the same verdict for every password and stored value, so
 * which engine is built never changes who gets in.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { canCheckNatively } from '../../src/crypt/native-crypt.js';
import { NativeLane, offloadFor } from '../../src/crypt/native-lane.js';
import { VerifyPool } from '../../src/crypt/verify-pool.js';
import { md5crypt } from '../../src/crypt/schemes/md5crypt.js';
import { desCrypt } from '../../src/crypt/schemes/des-crypt.js';
import { recogniseCryptString, verifyCryptTask } from '../../src/crypt/schemes/crypt-strings.js';
import type { VerifyLane } from '../../src/crypt/lane.js';
import { parseShaCrypt, shaCrypt } from '../../src/crypt/schemes/sha-crypt.js';
import { requireNativeCrypt } from '../helpers/native.js';

/** What a lane says for a stored value, parsed as the verifier parses it; a value no parser takes never matches. */
async function runOn(target: VerifyLane, password: Buffer, stored: string) {
  const found = recogniseCryptString(stored);
  return found ? target.run(found.task, password) : false;
}

/** The JavaScript's verdict on this thread. */
async function jsVerify(password: Buffer, stored: string) {
  const found = recogniseCryptString(stored);
  return found ? verifyCryptTask(password, found.task) : false;
}

const native = requireNativeCrypt();
const jsPool = new VerifyPool({ threads: 1, maxQueue: 1000, minThreads: 0 });
const lane = new NativeLane(native, jsPool, { offload: 1 });
afterAll(() => lane.close());

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SALT_CHARS = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const saltOf = (length: number) => fc.array(fc.constantFrom(...SALT_CHARS), { minLength: length, maxLength: length }).map((chars) => chars.join(''));
/** Any bytes but NUL, which a crypt(3) password cannot hold. */
const password = fc.uint8Array({ minLength: 0, maxLength: 64 }).map((bytes) => Buffer.from(bytes.map((b) => b || 1)));

describe('libxcrypt agrees with the JavaScript schemes', () => {
  it('md5crypt: right password true, any other false', async () => {
    await fc.assert(
      fc.asyncProperty(password, password, fc.integer({ min: 0, max: 8 }).chain(saltOf), async (right, other, salt) => {
        const stored = md5crypt(right, salt);
        expect(await native.verify(right, stored)).toBe(true);
        expect(await native.verify(other, stored)).toBe(other.equals(right));
        expect(native.verifySync(right, stored)).toBe(true);
        expect(native.verifySync(other, stored)).toBe(other.equals(right));
      }),
      { numRuns: RUNS },
    );
  });

  it('DES: the same verdict as unix-crypt-td-js, 8-bit bytes and long passwords included', async () => {
    await fc.assert(
      fc.asyncProperty(password, password, saltOf(2), async (right, other, salt) => {
        const stored = desCrypt(right, salt);
        expect(await native.verify(right, stored)).toBe(true);
        expect(native.verifySync(right, stored)).toBe(true);
        expect(await native.verify(other, stored)).toBe(await jsVerify(other, stored));
      }),
      { numRuns: RUNS },
    );
  });

  it('sha-crypt ($5$, $6$, rounds=): the same verdict as the JavaScript, through the slow pool too', async () => {
    const slow = new VerifyPool({ threads: 1, maxQueue: 100, minThreads: 0, native: true });
    const anySalt = fc.array(fc.integer({ min: 0x21, max: 0x7e }).filter((c) => c !== 0x24), { minLength: 0, maxLength: 20 }).map((codes) => String.fromCharCode(...codes));
    try {
      await fc.assert(
        fc.asyncProperty(password, password, anySalt, fc.constantFrom('5', '6'), fc.option(fc.integer({ min: 900, max: 1600 })), async (right, other, salt, id, rounds) => {
          // As the parser reads them: rounds clamped to 1000 at least, salt cut at 16 characters.
          const stored = shaCrypt(right, { id, rounds: rounds === null ? 5000 : Math.max(1000, rounds), roundsGiven: rounds !== null, salt: salt.slice(0, 16) });
          expect(parseShaCrypt(stored)).toBeDefined();
          const js = await jsVerify(right, stored);
          expect(js).toBe(true);
          // libxcrypt may refuse a value (null); then the JavaScript decides. Where it answers, it agrees.
          const native = requireNativeCrypt().verifySync(right, stored);
          if (native !== null) expect(native).toBe(true);
          expect(await runOn(slow, right, stored)).toBe(true);
          expect(await runOn(slow, other, stored)).toBe(other.equals(right));
        }),
        { numRuns: Math.max(20, Math.floor(RUNS / 10)) },
      );
    } finally {
      await slow.close();
    }
  });

  it('damaged and odd stored values: the lane (libxcrypt, then JavaScript for what it refuses) says what JavaScript says', async () => {
    const printable = fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code));
    const damaged = fc
      .tuple(password, fc.integer({ min: 0, max: 8 }).chain(saltOf), fc.nat(), printable, fc.boolean())
      .map(([pw, salt, at, char, des]) => {
        const stored = des ? desCrypt(pw, salt.padEnd(2, '.').slice(0, 2)) : md5crypt(pw, salt);
        const index = at % stored.length;
        return { pw, stored: stored.slice(0, index) + char + stored.slice(index + 1) };
      });
    await fc.assert(
      fc.asyncProperty(damaged, async ({ pw, stored }) => {
        expect(await runOn(lane, pw, stored)).toBe(await jsVerify(pw, stored));
      }),
      { numRuns: RUNS },
    );
  });

  it('a salt with characters crypt(3) does not allow: refused by both, so never a match', async () => {
    const oddSalt = fc.array(fc.integer({ min: 0x21, max: 0x7e }).filter((c) => c !== 0x24), { minLength: 1, maxLength: 8 }).map((codes) => String.fromCharCode(...codes));
    await fc.assert(
      fc.asyncProperty(password, oddSalt, async (pw, salt) => {
        fc.pre(/[^./0-9A-Za-z]/.test(salt));
        const stored = md5crypt(pw, salt);
        // libxcrypt takes some of these (it allows "<", say): the lane leaves them to the JavaScript parser, which refuses them all.
        expect(await jsVerify(pw, stored)).toBe(false);
        expect(await runOn(lane, pw, stored)).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('the native lane', () => {
  it('leaves to JavaScript what crypt(3) cannot take: a NUL byte, $apr1$, a non-ASCII stored value', async () => {
    const withNul = Buffer.from('se\0cret');
    expect(canCheckNatively(withNul, '$1$abc$x')).toBe(false);
    // crypt(3) would stop at the NUL and accept "se": the JavaScript check sees every byte.
    expect(await runOn(lane, withNul, md5crypt(withNul, 'salt'))).toBe(true);
    expect(await runOn(lane, Buffer.from('se'), md5crypt(withNul, 'salt'))).toBe(false);
    const apr1 = md5crypt(Buffer.from('secret'), 'salt', '$apr1$');
    expect(await runOn(lane, Buffer.from('secret'), apr1)).toBe(true);
    expect(await runOn(lane, Buffer.from('secreT'), apr1)).toBe(false);
    expect(canCheckNatively(Buffer.from('x'), '$1$sält$abc')).toBe(false);
    expect(canCheckNatively(Buffer.alloc(512, 0x61), '$1$salt$abc')).toBe(false);
  });

  it('refuses bad arguments at the boundary instead of reading past them', () => {
    for (const check of [native.verify, native.verifySync]) {
      expect(() => check(Buffer.from('a\0b'), '$1$salt$abc')).toThrow(/NUL/);
      expect(() => check('secret' as unknown as Buffer, '$1$salt$abc')).toThrow(/Buffer/);
      expect(() => check(Buffer.from('x'), 'x'.repeat(10_000))).toThrow(/too long/);
      expect(() => check(Buffer.from('x'), 42 as unknown as string)).toThrow(/string/);
    }
  });

  it('answers null, not false, for a stored value libxcrypt cannot use, on either path', async () => {
    expect(await native.verify(Buffer.from('x'), '$9$unknown')).toBeNull();
    expect(await native.verify(Buffer.from('x'), '')).toBeNull();
    expect(native.verifySync(Buffer.from('x'), '$9$unknown')).toBeNull();
  });

  it('verifySync gives the same verdicts as verify', async () => {
    const stored = md5crypt(Buffer.from('secret'), 'salt');
    expect(native.verifySync(Buffer.from('secret'), stored)).toBe(true);
    expect(native.verifySync(Buffer.from('secreT'), stored)).toBe(false);
    expect(native.verifySync(Buffer.from('secret'), desCrypt(Buffer.from('secret'), 'ab'))).toBe(true);
  });

  /** The addon, counting where each check ran. */
  function counting() {
    const seen = { offloaded: 0, peak: 0, onLoop: 0 };
    let running = 0;
    const binding = {
      verify: async (pw: Buffer, stored: string) => {
        seen.offloaded += 1;
        running += 1;
        seen.peak = Math.max(seen.peak, running);
        try {
          return await native.verify(pw, stored);
        } finally {
          running -= 1;
        }
      },
      verifySync: (pw: Buffer, stored: string) => {
        seen.onLoop += 1;
        return native.verifySync(pw, stored);
      },
    };
    return { binding, seen };
  }

  it('hands at most `offload` checks to the pool and computes the rest on the event loop: none waits, none is refused', async () => {
    const { binding, seen } = counting();
    const bounded = new NativeLane(binding, jsPool, { offload: 2 });
    const stored = md5crypt(Buffer.from('secret'), 'salt');
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => runOn(bounded, Buffer.from(i % 2 ? 'secret' : 'wrong'), stored)));
    expect(outcomes).toEqual(Array.from({ length: 20 }, (_, i) => i % 2 === 1));
    expect(seen.peak).toBe(2);
    expect(seen.offloaded).toBe(2);
    expect(seen.onLoop).toBe(18);
    expect(bounded.offloaded).toBe(0);
    expect(bounded.queueSize).toBe(0);
  });

  it('runs DES on the event loop: a few microseconds of C, less than a hand-off', async () => {
    const { binding, seen } = counting();
    const des = new NativeLane(binding, jsPool, { offload: 4 });
    expect(await runOn(des, Buffer.from('secret'), desCrypt(Buffer.from('secret'), 'ab'))).toBe(true);
    expect(seen).toMatchObject({ offloaded: 0, onLoop: 1 });
  });

  it('sizes the hand-off for the cores: the event loop is one of them, and one libuv thread stays free', () => {
    expect(offloadFor(1, {})).toBe(1);
    expect(offloadFor(2, {})).toBe(1);
    expect(offloadFor(4, {})).toBe(3);
    expect(offloadFor(16, {})).toBe(3);
    expect(offloadFor(16, { UV_THREADPOOL_SIZE: '16' })).toBe(15);
  });
});
