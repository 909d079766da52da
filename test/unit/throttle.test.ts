import { describe, expect, it } from 'vitest';
import { clientAddressOf, FailureThrottle, FIRST_DELAY_MS, MAX_TRACKED_KEYS, OWNER_ADDRESS_MS, type NameKind, type ThrottleClock } from '../../src/auth/throttle.js';
import type { Cancellation } from '../../src/common/cancellation.js';

/** A clock the test moves by hand, with the jitter pinned at one end or the other. */
function fakeClock(random = 1): ThrottleClock & { advance(ms: number): void; jitter(value: number): void } {
  let now = 1_000_000;
  let jitter = random;
  return { now: () => now, random: () => jitter, advance: (ms) => (now += ms), jitter: (value) => (jitter = value) };
}

const SETTINGS = { afterFailures: 3, maxDelayMs: 2000, windowMs: 60_000 };

/** Record failures the way a login would: under the keys the throttle gives that name and address. */
function failTimes(throttle: FailureThrottle, times: number, user = 'alice', address?: string, kind: NameKind = 'has-row'): void {
  for (let i = 0; i < times; i += 1) throttle.record(throttle.keysFor(user, address, kind), true);
}

function decide(throttle: FailureThrottle, user: string, address: string | undefined, failed: boolean, kind: NameKind = 'has-row') {
  return throttle.decide(throttle.keysFor(user, address, kind), failed);
}

const NOBODY: Cancellation = new AbortController();

/** Admit at once or fail the test: these throttles are never asked to wait. */
function admitNow(throttle: FailureThrottle, keys: ReturnType<FailureThrottle['keysFor']>) {
  const admission = throttle.admit(keys, NOBODY, () => true);
  if (admission instanceof Promise || !admission.admitted) throw new Error('expected to be admitted at once');
  return admission.pass;
}

describe('FailureThrottle', () => {
  it('lets the first failures through at once, then doubles the delay up to the ceiling', () => {
    const throttle = new FailureThrottle(SETTINGS, fakeClock(1));
    const delays: number[] = [];
    for (let i = 0; i < 8; i += 1) {
      delays.push(decide(throttle, 'alice', undefined, true)?.delayMs ?? 0);
      failTimes(throttle, 1);
    }
    expect(delays).toEqual([0, 0, 0, FIRST_DELAY_MS, 2 * FIRST_DELAY_MS, 4 * FIRST_DELAY_MS, 2000, 2000]);
  });

  it('jitters within the upper half of the delay, never beyond the ceiling', () => {
    const clock = fakeClock(0);
    const throttle = new FailureThrottle(SETTINGS, clock);
    failTimes(throttle, 20);
    expect(decide(throttle, 'alice', undefined, true)?.delayMs).toBe(1000);
    clock.jitter(0.999999);
    expect(decide(throttle, 'alice', undefined, true)?.delayMs).toBe(2000);
  });

  it("never delays the owner's right password for failures on their name", () => {
    const throttle = new FailureThrottle(SETTINGS, fakeClock());
    failTimes(throttle, 50);
    expect(decide(throttle, 'alice', undefined, false)).toBeUndefined();
    expect(decide(throttle, 'alice', '203.0.113.9', false)).toBeUndefined();
  });

  it('a success starts the name over, so the next failure is not delayed', () => {
    const throttle = new FailureThrottle(SETTINGS, fakeClock());
    failTimes(throttle, 5);
    throttle.record(throttle.keysFor('alice', undefined, 'has-row'), false);
    expect(decide(throttle, 'alice', undefined, true)).toBeUndefined();
  });

  it('delays every answer to a failing address, success included, and a success there does not wipe it', () => {
    const throttle = new FailureThrottle(SETTINGS, fakeClock());
    for (const user of ['a', 'b', 'c', 'd']) failTimes(throttle, 1, user, '203.0.113.9');
    throttle.record(throttle.keysFor('mallory', '203.0.113.9', 'has-row'), false);
    expect(decide(throttle, 'mallory', '203.0.113.9', false)).toMatchObject({ by: 'address', failures: 4 });
    expect(decide(throttle, 'mallory', '198.51.100.1', false)).toBeUndefined();
    // Spreading guesses over many names does not escape the address's count.
    expect(decide(throttle, 'e', '203.0.113.9', true)).toMatchObject({ by: 'address' });
  });

  it('forgets a key after a window without failures', () => {
    const clock = fakeClock();
    const throttle = new FailureThrottle(SETTINGS, clock);
    failTimes(throttle, 5);
    clock.advance(60_001);
    expect(decide(throttle, 'alice', undefined, true)).toBeUndefined();
    failTimes(throttle, 1);
    expect(decide(throttle, 'alice', undefined, true)).toBeUndefined();
  });

  it('keeps counting while failures keep coming inside the window', () => {
    const clock = fakeClock();
    const throttle = new FailureThrottle(SETTINGS, clock);
    for (let i = 0; i < 10; i += 1) {
      clock.advance(50_000);
      failTimes(throttle, 1);
    }
    expect(decide(throttle, 'alice', undefined, true)?.failures).toBe(10);
  });

  it('is off at afterFailures 0', () => {
    const throttle = new FailureThrottle({ ...SETTINGS, afterFailures: 0 }, fakeClock());
    failTimes(throttle, 100, 'alice', '203.0.113.9');
    expect(decide(throttle, 'alice', '203.0.113.9', true)).toBeUndefined();
  });

  it('tracks a bounded number of keys whatever arrives: each table (names with a row, without, addresses) has its bound', () => {
    const throttle = new FailureThrottle(SETTINGS, fakeClock());
    for (let i = 0; i < MAX_TRACKED_KEYS + 5000; i += 1) failTimes(throttle, 1, `user${i}`, `10.0.${i >> 8}.${i & 255}`);
    expect(throttle.trackedKeys).toBe(2 * MAX_TRACKED_KEYS);
    for (let i = 0; i < MAX_TRACKED_KEYS + 5000; i += 1) failTimes(throttle, 1, `made-up${i}`, undefined, 'no-row');
    expect(throttle.trackedKeys).toBe(3 * MAX_TRACKED_KEYS);
  });

  it("keeps a real user's count whatever number of made-up names fail", () => {
    const throttle = new FailureThrottle(SETTINGS, fakeClock());
    failTimes(throttle, SETTINGS.afterFailures);
    for (let i = 0; i < MAX_TRACKED_KEYS + 5000; i += 1) failTimes(throttle, 1, `made-up${i}`, undefined, 'no-row');
    expect(decide(throttle, 'alice', undefined, true)?.failures).toBe(SETTINGS.afterFailures);
  });

  it('counts every name refused before its lookup under one shared key', () => {
    const throttle = new FailureThrottle(SETTINGS, fakeClock());
    for (let i = 0; i < 1000; i += 1) failTimes(throttle, 1, `bad-name-${i}`, undefined, 'not-a-name');
    expect(throttle.trackedKeys).toBe(1);
    expect(decide(throttle, 'another-bad-name', undefined, true, 'not-a-name')?.failures).toBe(1000);
  });

  it("counts an owner address's logins under their own key: guesses from elsewhere do not hold it back", () => {
    const clock = fakeClock();
    const throttle = new FailureThrottle(SETTINGS, clock);
    const home = '198.51.100.7';
    // alice logs in from home: home becomes an owner address for alice (and only for alice).
    const first = throttle.keysFor('alice', home, 'has-row');
    throttle.settle(admitNow(throttle, first), first, false, { user: 'alice', address: home });
    expect(throttle.keysFor('alice', home, 'has-row').map((k) => k.table)).toEqual(['owner']);
    expect(throttle.keysFor('bob', home, 'has-row').map((k) => k.table)).toEqual(['address', 'has-row']);
    // A guesser elsewhere (or with no address) throttles the name...
    failTimes(throttle, 10, 'alice', '203.0.113.9');
    failTimes(throttle, 10, 'alice', undefined);
    expect(decide(throttle, 'alice', undefined, true)?.failures).toBe(20);
    // ...not the owner at home, whose failures are their own.
    expect(decide(throttle, 'alice', home, true)).toBeUndefined();
    expect(throttle.admit(throttle.keysFor('alice', home, 'has-row'), NOBODY, () => false)).toMatchObject({ admitted: true });
    // The mark lasts OWNER_ADDRESS_MS.
    clock.advance(OWNER_ADDRESS_MS + 1);
    expect(throttle.keysFor('alice', home, 'has-row').map((k) => k.table)).toEqual(['address', 'has-row']);
  });

  it('admits fewer evaluations at once as failures mount, one once throttled, and none while the last delay runs', () => {
    const clock = fakeClock(1);
    const throttle = new FailureThrottle(SETTINGS, clock);
    const keys = throttle.keysFor('alice', undefined, 'has-row');
    const open = () => {
      const admission = throttle.admit(keys, NOBODY, () => false);
      return !(admission instanceof Promise) && admission.admitted ? admission.pass : undefined;
    };
    // Clean: afterFailures (3) at once, not a fourth.
    const passes = [open(), open(), open()];
    expect(passes.every(Boolean)).toBe(true);
    expect(open()).toBeUndefined();
    // Three failures: throttled. The next failure earns a delay and holds the key closed for it.
    for (const pass of passes) throttle.settle(pass!, keys, true);
    const fourth = open();
    expect(fourth).toBeDefined();
    expect(open()).toBeUndefined();
    const { decision } = throttle.settle(fourth!, keys, true);
    expect(decision?.delayMs).toBe(FIRST_DELAY_MS);
    expect(open()).toBeUndefined();
    clock.advance(FIRST_DELAY_MS);
    expect(open()).toBeDefined();
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
