/**
 * Brute-force throttling through the real socket: failures are delayed after
 * the threshold, answers stay what they were (NO stays NO), the owner's right
 * password is not held back, and an address that keeps failing waits for
 * everything it asks.
 */
import { describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import net from 'node:net';
import { DEMO_HASH, eventually, startTestDaemon } from '../helpers/daemon.js';

const USERS = [`alice:${DEMO_HASH}`, `bob:${DEMO_HASH}`];
const FLAGS = { throttleAfter: '3', throttleMaxDelay: '600' };

type Parts = Parameters<typeof requestFrame>[0];

async function timedAsk(socketPath: string, parts: Parts): Promise<{ reply: string | undefined; ms: number }> {
  const started = performance.now();
  const { reply } = await exchange(socketPath, requestFrame({ service: 'smtp', realm: '', ...parts }));
  return { reply, ms: performance.now() - started };
}

describe('brute-force throttle', () => {
  it('answers the first failures at once, then holds each failure back for the logged delay; the answer stays NO', async () => {
    const { socketPath, sink } = await startTestDaemon(USERS, FLAGS);
    const answers = [];
    for (let i = 0; i < 6; i += 1) answers.push(await timedAsk(socketPath, { login: 'alice', password: `guess${i}` }));
    expect(answers.map((a) => a.reply)).toEqual(Array(6).fill('NO authentication failed'));

    const events = sink.authEvents();
    expect(events.map((e) => e.delayMs === undefined)).toEqual([true, true, true, false, false, false]);
    // Each delay is within its bound (250, 500, then the 600 ceiling; jitter takes the upper half)...
    const delays = events.slice(3).map((e) => Number(e.delayMs));
    expect(delays[0]).toBeGreaterThanOrEqual(125);
    expect(delays[0]).toBeLessThanOrEqual(250);
    expect(delays[1]).toBeGreaterThanOrEqual(250);
    expect(delays[2]).toBeLessThanOrEqual(600);
    // ...and the reply really waited for it (timers never fire early by more than a tick).
    answers.slice(3).forEach((answer, i) => expect(answer.ms).toBeGreaterThanOrEqual(delays[i]! - 2));

    // One line when the name crosses the threshold, not one per failure.
    const throttleLines = sink.records().filter((r) => r.event === 'throttle');
    expect(throttleLines).toEqual([expect.objectContaining({ by: 'user', user: 'alice', failures: 3, msg: 'throttling: [user=alice] [failures=3]' })]);
  });

  it('counts a repeated wrong password once (a phone retrying an old one), yet holds it back once the name is throttled', async () => {
    const { socketPath, sink } = await startTestDaemon(USERS, FLAGS);
    const answers = [];
    for (let i = 0; i < 5; i += 1) answers.push(await timedAsk(socketPath, { login: 'alice', password: 'old-password' }));
    expect(answers.map((a) => a.reply)).toEqual(Array(5).fill('NO authentication failed'));
    let events = sink.authEvents();
    expect(events.map((e) => e.cache)).toEqual([undefined, 'rejected', 'rejected', 'rejected', 'rejected']);
    // One failure: nothing delayed, no throttling line.
    expect(events.map((e) => e.delayMs)).toEqual(Array(5).fill(undefined));
    expect(sink.records().filter((r) => r.event === 'throttle')).toEqual([]);
    // Two new guesses: three failures, throttled. The old password again: held back, not counted.
    for (const guess of ['g1', 'g2']) await timedAsk(socketPath, { login: 'alice', password: guess });
    const repeat = await timedAsk(socketPath, { login: 'alice', password: 'old-password' });
    const next = await timedAsk(socketPath, { login: 'alice', password: 'g3' });
    events = sink.authEvents();
    const [repeatEvent, nextEvent] = events.slice(-2);
    expect(repeatEvent).toMatchObject({ cache: 'rejected' });
    expect(repeat.ms).toBeGreaterThanOrEqual(Number(repeatEvent!.delayMs) - 2);
    // Three failures before g3 (not four): its delay is the first one's (at most 250 ms), not the second's.
    expect(Number(nextEvent!.delayMs)).toBeGreaterThanOrEqual(125);
    expect(Number(nextEvent!.delayMs)).toBeLessThanOrEqual(250);
    expect(next.reply).toBe('NO authentication failed');
  });

  it("does not delay the owner's right password, and a success starts the name over", async () => {
    const { socketPath, sink } = await startTestDaemon(USERS, FLAGS);
    for (let i = 0; i < 5; i += 1) await timedAsk(socketPath, { login: 'alice', password: 'wrong' });
    expect((await timedAsk(socketPath, { login: 'alice', password: 'demo' })).reply).toBe('OK');
    expect(await timedAsk(socketPath, { login: 'alice', password: 'typo' })).toMatchObject({ reply: 'NO authentication failed' });
    const events = sink.authEvents();
    expect(events[5]).toMatchObject({ result: 'success' });
    expect(events[5]!.delayMs).toBeUndefined();
    expect(events[6]!.delayMs).toBeUndefined();
  });

  it('with the fifth field, delays every answer to a failing address, and only to it', async () => {
    const { socketPath, sink } = await startTestDaemon(USERS, FLAGS);
    // Spread over names, so no single name reaches the threshold.
    for (const login of ['u1', 'u2', 'u3', 'u4']) await timedAsk(socketPath, { login, password: 'x', clientAddress: '203.0.113.9;4000' });
    expect((await timedAsk(socketPath, { login: 'bob', password: 'demo', clientAddress: '203.0.113.9;4001' })).reply).toBe('OK');
    expect((await timedAsk(socketPath, { login: 'bob', password: 'demo', clientAddress: '198.51.100.1;4002' })).reply).toBe('OK');
    const events = sink.authEvents();
    expect(events[3]!.delayMs).toBeGreaterThan(0);
    expect(events[4]).toMatchObject({ result: 'success', remote: '203.0.113.9;4001' });
    expect(events[4]!.delayMs).toBeGreaterThan(0);
    expect(events[5]).toMatchObject({ result: 'success', remote: '198.51.100.1;4002' });
    expect(events[5]!.delayMs).toBeUndefined();
    expect(sink.records().filter((r) => r.event === 'throttle')).toEqual([expect.objectContaining({ by: 'address', remote: '203.0.113.9', failures: 3 })]);
  });

  it('held answers hold nothing else up, and no longer than the ceiling even when the peer has gone', async () => {
    const { socketPath, daemon, sink } = await startTestDaemon(USERS, { throttleAfter: '1', throttleMaxDelay: '2000' });
    // Concurrent guesses: each one counts before the next is answered, so the delays climb fast.
    const guesses = Array.from({ length: 8 }, (_, i) => {
      const socket = net.connect({ path: socketPath });
      socket.on('error', () => undefined);
      socket.write(requestFrame({ login: 'alice', password: `guess${i}`, service: 'smtp', realm: '' }));
      return socket;
    });
    await eventually(() => sink.authEvents().length === 8);
    expect(Math.max(...sink.authEvents().map((e) => Number(e.delayMs ?? 0)))).toBeGreaterThan(1000);
    // Another user is answered while the guesses are held.
    expect((await timedAsk(socketPath, { login: 'bob', password: 'demo' })).reply).toBe('OK');
    expect(sink.authEvents().at(-1)).toMatchObject({ user: 'bob', result: 'success' });
    expect(sink.authEvents().at(-1)!.delayMs).toBeUndefined();
    // Held answers are not worth a grace period: closing drops them at once (their clients see a temporary failure).
    for (const socket of guesses) socket.destroy();
    const started = performance.now();
    await daemon.close();
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('is off with --throttle-after 0', async () => {
    const { socketPath, sink } = await startTestDaemon(USERS, { throttleAfter: '0' });
    for (let i = 0; i < 8; i += 1) await timedAsk(socketPath, { login: 'alice', password: 'wrong' });
    expect(sink.authEvents().every((e) => e.delayMs === undefined)).toBe(true);
  });
});
