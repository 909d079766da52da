import { describe, expect, it } from 'vitest';
import { clientAddressOf, FailureThrottle, FIRST_DELAY_MS, MAX_TRACKED_KEYS, type ThrottleClock } from '../../src/auth/throttle.js';

/** A clock the test moves by hand, with the jitter pinned at one end or the other. */
function fakeClock(random = 1): ThrottleClock & { advance(ms: number): void; jitter(value: number): void } {
  let now = 1_000_000;
  let jitter = random;
  return { now: () => now, random: () => jitter, advance: (ms) => (now += ms), jitter: (value) => (jitter = value) };
}

const SETTINGS = { afterFailures: 3, maxDelayMs: 2000, windowMs: 60_000 };

function failTimes(throttle: FailureThrottle, times: number, user = 'alice', address?: string): void {
  for (let i = 0; i < times; i += 1) throttle.recordFailure(user, address);
}

describe('FailureThrottle', () => {
  it('lets the first failures through at once, then doubles the delay up to the ceiling', () => {
    const throttle = new FailureThrottle(SETTINGS, fakeClock(1));
    const delays: number[] = [];
    for (let i = 0; i < 8; i += 1) {
      delays.push(throttle.decide('alice', undefined, true)?.delayMs ?? 0);
      throttle.recordFailure('alice', undefined);
    }
    expect(delays).toEqual([0, 0, 0, FIRST_DELAY_MS, 2 * FIRST_DELAY_MS, 4 * FIRST_DELAY_MS, 2000, 2000]);
  });

  it('jitters within the upper half of the delay, never beyond the ceiling', () => {
    const clock = fakeClock(0);
    const throttle = new FailureThrottle(SETTINGS, clock);
    failTimes(throttle, 20);
    expect(throttle.decide('alice', undefined, true)?.delayMs).toBe(1000);
    clock.jitter(0.999999);
    expect(throttle.decide('alice', undefined, true)?.delayMs).toBe(2000);
  });

  it("never delays the owner's right password for failures on their name", () => {
    const throttle = new FailureThrottle(SETTINGS, fakeClock());
    failTimes(throttle, 50);
    expect(throttle.decide('alice', undefined, false)).toBeUndefined();
    expect(throttle.decide('alice', '203.0.113.9', false)).toBeUndefined();
  });

  it('a success starts the name over, so the next failure is not delayed', () => {
    const throttle = new FailureThrottle(SETTINGS, fakeClock());
    failTimes(throttle, 5);
    throttle.recordSuccess('alice');
    expect(throttle.decide('alice', undefined, true)).toBeUndefined();
  });

  it('delays every answer to a failing address, success included, and a success there does not wipe it', () => {
    const throttle = new FailureThrottle(SETTINGS, fakeClock());
    for (const user of ['a', 'b', 'c', 'd']) throttle.recordFailure(user, '203.0.113.9');
    throttle.recordSuccess('mallory');
    expect(throttle.decide('mallory', '203.0.113.9', false)).toMatchObject({ by: 'address', failures: 4 });
    expect(throttle.decide('mallory', '198.51.100.1', false)).toBeUndefined();
    // Spreading guesses over many names does not escape the address's count.
    expect(throttle.decide('e', '203.0.113.9', true)).toMatchObject({ by: 'address' });
  });

  it('forgets a key after a window without failures', () => {
    const clock = fakeClock();
    const throttle = new FailureThrottle(SETTINGS, clock);
    failTimes(throttle, 5);
    clock.advance(60_001);
    expect(throttle.decide('alice', undefined, true)).toBeUndefined();
    expect(throttle.recordFailure('alice', undefined).user).toBe(1);
  });

  it('keeps counting while failures keep coming inside the window', () => {
    const clock = fakeClock();
    const throttle = new FailureThrottle(SETTINGS, clock);
    for (let i = 0; i < 10; i += 1) {
      clock.advance(50_000);
      throttle.recordFailure('alice', undefined);
    }
    expect(throttle.decide('alice', undefined, true)?.failures).toBe(10);
  });

  it('is off at afterFailures 0', () => {
    const throttle = new FailureThrottle({ ...SETTINGS, afterFailures: 0 }, fakeClock());
    failTimes(throttle, 100);
    expect(throttle.decide('alice', '203.0.113.9', true)).toBeUndefined();
  });

  it('tracks a bounded number of keys whatever arrives: each table (names with a row, without, addresses) has its bound', () => {
    const throttle = new FailureThrottle(SETTINGS, fakeClock());
    for (let i = 0; i < MAX_TRACKED_KEYS + 5000; i += 1) throttle.recordFailure(`user${i}`, `10.0.${i >> 8}.${i & 255}`);
    expect(throttle.trackedKeys).toBe(2 * MAX_TRACKED_KEYS);
    for (let i = 0; i < MAX_TRACKED_KEYS + 5000; i += 1) throttle.recordFailure(`made-up${i}`, undefined, 'no-row');
    expect(throttle.trackedKeys).toBe(3 * MAX_TRACKED_KEYS);
  });

  it('keeps a real user\'s count whatever number of made-up names fail', () => {
    const throttle = new FailureThrottle(SETTINGS, fakeClock());
    for (let i = 0; i < SETTINGS.afterFailures; i += 1) throttle.recordFailure('alice', undefined, 'has-row');
    for (let i = 0; i < MAX_TRACKED_KEYS + 5000; i += 1) throttle.recordFailure(`made-up${i}`, undefined, 'no-row');
    expect(throttle.decide('alice', undefined, true, 'has-row')?.failures).toBe(SETTINGS.afterFailures);
  });

  it('counts every name refused before its lookup under one shared key', () => {
    const throttle = new FailureThrottle(SETTINGS, fakeClock());
    for (let i = 0; i < 1000; i += 1) throttle.recordFailure(`bad-name-${i}`, undefined, 'not-a-name');
    expect(throttle.trackedKeys).toBe(1);
    expect(throttle.decide('another-bad-name', undefined, true, 'not-a-name')?.failures).toBe(1000);
  });
});

describe('clientAddressOf', () => {
  it.each([
    ['192.0.2.7;50123', '192.0.2.7'],
    ['2001:db8::1;50123', '2001:db8::1'],
    ['192.0.2.7', '192.0.2.7'],
  ])('%s -> %s', (field, address) => {
    expect(clientAddressOf(field)).toBe(address);
  });
});
