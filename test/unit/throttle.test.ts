/**
 * The throttle as a login sees it: a turn claimed for a name and settled
 * with the outcome, which says how long to hold the answer. A clock the test
 * moves by hand stands in for time, and the jitter is pinned.
 */
import { describe, expect, it } from 'vitest';
import { FailureThrottle, FIRST_DELAY_MS, MAX_TRACKED_KEYS, OWNER_ADDRESS_MS, type NameKind, type ThrottleClock, type Turn } from '../../src/auth/throttle.js';
import type { Outcome } from '../../src/auth/outcome.js';
import { ErrorCodes } from '../../src/errors.js';
import { logSink } from '../helpers/log-sink.js';

/** A clock the test moves by hand, with the jitter pinned at one end or the other. */
function fakeClock(random = 1): ThrottleClock & { advance(ms: number): void; jitter(value: number): void } {
  let now = 1_000_000;
  let jitter = random;
  return { now: () => now, random: () => jitter, advance: (ms) => (now += ms), jitter: (value) => (jitter = value) };
}

const SETTINGS = { afterFailures: 3, maxDelayMs: 2000, windowMs: 60_000, ipv6PrefixBits: 64 };
const NOBODY = new AbortController();
const ROOM = (): boolean => true;
const FAILURE: Outcome = { result: 'failure', code: ErrorCodes.WRONG_PASSWORD };
const SUCCESS: Outcome = { result: 'success' };

function build(clock = fakeClock(), settings = SETTINGS) {
  const sink = logSink();
  return { throttle: new FailureThrottle(settings, sink.logger, clock), clock, sink };
}

/** A turn claimed at once for this name, or the test fails: these logins are never asked to wait. */
function claimed(throttle: FailureThrottle, user: string, address: string | undefined, kind: NameKind, hold = ROOM): Turn {
  const turn = throttle.turn(address, NOBODY, hold);
  const claim = turn.claim(user, kind);
  if (claim !== undefined) throw new Error(`expected a turn at once for ${user}, got ${claim instanceof Promise ? 'a wait' : claim.code}`);
  return turn;
}

/**
 * One login's outcome, as the authenticator settles it: the delay its
 * answer is held. The clock then moves past the delay, as the key stays
 * closed to the next evaluation until it is over.
 */
function login(context: { throttle: FailureThrottle; clock: { advance(ms: number): void } }, outcome: Outcome, user = 'alice', address?: string, kind: NameKind = 'has-row'): number {
  const delay = claimed(context.throttle, user, address, kind).settle(outcome, user);
  context.clock.advance(delay);
  return delay;
}

function failTimes(context: Parameters<typeof login>[0], times: number, user = 'alice', address?: string, kind: NameKind = 'has-row'): void {
  for (let i = 0; i < times; i += 1) login(context, FAILURE, user, address, kind);
}

describe('FailureThrottle', () => {
  it('lets the first failures through at once, then doubles the delay up to the ceiling', () => {
    const context = build(fakeClock(1));
    const delays = Array.from({ length: 8 }, () => login(context, FAILURE));
    expect(delays).toEqual([0, 0, 0, FIRST_DELAY_MS, 2 * FIRST_DELAY_MS, 4 * FIRST_DELAY_MS, 2000, 2000]);
  });

  it('jitters within the upper half of the delay, never beyond the ceiling', () => {
    const context = build(fakeClock(0));
    failTimes(context, 20);
    expect(login(context, FAILURE)).toBe(1000);
    context.clock.jitter(0.999999);
    expect(login(context, FAILURE)).toBe(2000);
  });

  it("never delays the owner's right password for failures on their name", () => {
    const withoutAddress = build();
    failTimes(withoutAddress, 50);
    expect(login(withoutAddress, SUCCESS)).toBe(0);
    const withAddress = build();
    failTimes(withAddress, 50);
    expect(login(withAddress, SUCCESS, 'alice', '203.0.113.9')).toBe(0);
  });

  it('a success starts the name over, so the next failure is not delayed', () => {
    const context = build();
    failTimes(context, 5);
    login(context, SUCCESS);
    expect(login(context, FAILURE)).toBe(0);
  });

  it('delays every answer to a failing address, success included, and a success there does not wipe it', () => {
    const context = build();
    for (const user of ['a', 'b', 'c', 'd']) failTimes(context, 1, user, '203.0.113.9');
    expect(login(context, SUCCESS, 'mallory', '203.0.113.9')).toBeGreaterThan(0);
    // mallory's success did not wipe the address's count: the next user there still waits (mallory, now an owner there, would not).
    expect(login(context, SUCCESS, 'oscar', '203.0.113.9')).toBeGreaterThan(0);
    expect(login(context, SUCCESS, 'trent', '198.51.100.1')).toBe(0);
    // Spreading guesses over many names does not escape the address's count.
    expect(login(context, FAILURE, 'e', '203.0.113.9')).toBeGreaterThan(0);
  });

  it('counts the addresses of one IPv6 network as one, and IPv4 written as IPv6 as the IPv4 address', () => {
    const context = build();
    for (const address of ['2001:db8:1:2::1', '2001:db8:1:2::2', '2001:db8:1:2:aaaa::3']) login(context, FAILURE, `user-${address}`, address);
    expect(login(context, FAILURE, 'someone-else', '2001:db8:1:2:ffff::9')).toBeGreaterThan(0);
    expect(login(context, FAILURE, 'someone-else-2', '2001:db8:1:3::1')).toBe(0);
    for (const address of ['192.0.2.7', '::ffff:192.0.2.7', '192.0.2.7']) login(context, FAILURE, `user-${address}`, address);
    expect(login(context, SUCCESS, 'one-more', '::ffff:192.0.2.7')).toBeGreaterThan(0);
    expect(context.sink.records().filter((r) => r.event === 'throttle').map((r) => r.remote)).toEqual(['2001:db8:1:2::/64', '192.0.2.7']);
  });

  it('forgets a key after a window without failures', () => {
    const context = build();
    failTimes(context, 5);
    context.clock.advance(60_001);
    expect(login(context, FAILURE)).toBe(0);
    expect(login(context, FAILURE)).toBe(0);
  });

  it('keeps counting while failures keep coming inside the window', () => {
    const context = build();
    for (let i = 0; i < 10; i += 1) {
      context.clock.advance(50_000);
      login(context, FAILURE);
    }
    // Ten failures: the ceiling, which fewer than six would not reach.
    expect(login(context, FAILURE)).toBe(2000);
  });

  it('is never built switched off: the daemon builds no throttle for --throttle-after 0', () => {
    expect(() => new FailureThrottle({ ...SETTINGS, afterFailures: 0 }, logSink().logger)).toThrow(RangeError);
  });

  it('tracks a bounded number of keys whatever arrives: each table (names with a row, without, addresses) has its bound', () => {
    const context = build();
    for (let i = 0; i < MAX_TRACKED_KEYS + 5000; i += 1) failTimes(context, 1, `user${i}`, `10.0.${i >> 8}.${i & 255}`);
    expect(context.throttle.keyCounts.counted).toBe(2 * MAX_TRACKED_KEYS);
    for (let i = 0; i < MAX_TRACKED_KEYS + 5000; i += 1) failTimes(context, 1, `made-up${i}`, undefined, 'no-row');
    expect(context.throttle.keyCounts.counted).toBe(3 * MAX_TRACKED_KEYS);
    // Every turn was settled: nothing is in flight, waiting or held.
    expect(context.throttle.keyCounts.active).toBe(0);
  });

  it("keeps a real user's count whatever number of made-up names fail", () => {
    const context = build();
    failTimes(context, SETTINGS.afterFailures);
    for (let i = 0; i < MAX_TRACKED_KEYS + 5000; i += 1) failTimes(context, 1, `made-up${i}`, undefined, 'no-row');
    expect(login(context, FAILURE)).toBe(FIRST_DELAY_MS);
  });

  it('counts every name refused before its lookup under one shared key, and makes none of them wait for a turn', () => {
    const context = build();
    for (let i = 0; i < 1000; i += 1) failTimes(context, 1, `bad-name-${i}`, undefined, 'not-a-name');
    expect(context.throttle.keyCounts.counted).toBe(1);
    expect(login(context, FAILURE, 'another-bad-name', undefined, 'not-a-name')).toBeGreaterThan(0);
    expect(context.throttle.keyCounts.active).toBe(0);
  });

  it('writes one throttling line when a name, and one when an address, crosses the threshold', () => {
    const context = build();
    failTimes(context, 5, 'alice', '203.0.113.9');
    const lines = context.sink.records().filter((record) => record.event === 'throttle');
    expect(lines.map((record) => record.msg)).toEqual(['throttling: [remote=203.0.113.9] [failures=3]', 'throttling: [user=alice] [failures=3]']);
    // A made-up name refused before its lookup is no user to name.
    const other = build();
    failTimes(other, 5, 'x\\x01', undefined, 'not-a-name');
    expect(other.sink.records().filter((record) => record.event === 'throttle')).toEqual([]);
  });

  it('counts nothing for a temporary failure, and gives its turn back', () => {
    const context = build();
    for (let i = 0; i < 10; i += 1) expect(claimed(context.throttle, 'alice', undefined, 'has-row').settle({ result: 'temporary-failure', code: ErrorCodes.BACKEND_UNAVAILABLE }, 'alice')).toBe(0);
    expect(login(context, FAILURE)).toBe(0);
    expect(context.throttle.keyCounts.active).toBe(0);
  });

  it('counts a temporary failure that says it counts as a guess, as a failure', () => {
    const context = build();
    const counted: Outcome = { result: 'temporary-failure', code: ErrorCodes.UNSUPPORTED_SCHEME, countsAsGuess: true };
    for (let i = 0; i < 3; i += 1) login(context, counted);
    expect(login(context, counted)).toBe(FIRST_DELAY_MS);
    expect(login(context, FAILURE)).toBeGreaterThan(0);
  });

  it("counts an owner address's logins under their own key: guesses from elsewhere do not hold it back", () => {
    const context = build();
    const home = '198.51.100.7';
    // alice logs in from home: home becomes an owner address for alice (and only for alice).
    login(context, SUCCESS, 'alice', home);
    // A guesser elsewhere (or with no address) throttles the name...
    failTimes(context, 10, 'alice', '203.0.113.9');
    failTimes(context, 10, 'alice', undefined);
    expect(login(context, FAILURE, 'alice', undefined)).toBeGreaterThan(0);
    // ...not the owner at home, whose failures are their own, and who need not wait to be evaluated.
    expect(login(context, FAILURE, 'alice', home)).toBe(0);
    expect(claimed(context.throttle, 'alice', home, 'has-row', () => false).settle(SUCCESS, 'alice')).toBe(0);
    // bob at alice's home is no owner there: his name's guesses from elsewhere hold him back.
    failTimes(context, 3, 'bob', '203.0.113.9');
    expect(login(context, FAILURE, 'bob', home)).toBeGreaterThan(0);
    // The mark lasts OWNER_ADDRESS_MS: after it, home is one address among others.
    context.clock.advance(OWNER_ADDRESS_MS + 1);
    failTimes(context, 3, 'alice', '203.0.113.10');
    expect(login(context, FAILURE, 'alice', home)).toBeGreaterThan(0);
  });

  it('admits fewer evaluations at once as failures mount, one once throttled, and none while the last delay runs', () => {
    const clock = fakeClock(1);
    const { throttle } = build(clock);
    const open = (): Turn | undefined => {
      const turn = throttle.turn(undefined, NOBODY, () => false);
      return turn.claim('alice', 'has-row') === undefined ? turn : undefined;
    };
    // Clean: afterFailures (3) at once, not a fourth.
    const turns = [open(), open(), open()];
    expect(turns.every(Boolean)).toBe(true);
    expect(open()).toBeUndefined();
    // Three failures: throttled. The next failure earns a delay and holds the key closed for it.
    for (const turn of turns) turn!.settle(FAILURE, 'alice');
    const fourth = open();
    expect(fourth).toBeDefined();
    expect(open()).toBeUndefined();
    expect(fourth!.settle(FAILURE, 'alice')).toBe(FIRST_DELAY_MS);
    expect(open()).toBeUndefined();
    clock.advance(FIRST_DELAY_MS);
    expect(open()).toBeDefined();
  });

  it('keeps the turn when it moves to a name under the same keys, and takes the new name’s when they differ', () => {
    const context = build();
    failTimes(context, 3, 'alice');
    // Throttled: one evaluation at a time. A turn for "alice" moved to "alice" is still the one turn.
    const turn = claimed(context.throttle, 'alice', undefined, 'has-row');
    expect(turn.claim('alice', 'has-row')).toBeUndefined();
    // Moved to a name with no row: alice's turn is given back, so another login of alice's goes at once.
    expect(turn.claim('nobody', 'no-row')).toBeUndefined();
    const next = claimed(context.throttle, 'alice', undefined, 'has-row');
    next.settle(SUCCESS, 'alice');
    turn.settle(FAILURE, 'nobody');
    expect(context.throttle.keyCounts.active).toBe(0);
  });
});
