/**
 * The benchmark's C client (bench/mux-load.c) against a real daemon:
 * it must ask correctly, and it must count what it is there to count (wrong
 * answers, no answers), or a benchmark run could pass while the daemon
 * answers wrongly. The Node generator's choice of wrong passwords is checked
 * beside it. CI has a C compiler: a build failure fails here, with the reason.
 */
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCGenerator, runCLoad, runCOpenLoop } from '../../bench/c-load-generator.js';
import { runLoad, type LoadOptions } from '../../bench/load-generator.js';
import { DEMO_HASH, startTestDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/temp.js';

function binary(): string {
  const build = buildCGenerator();
  if (!build.ok) throw new Error(`the C load generator did not build: ${build.reason}`);
  return build.binary;
}

/** Wrong passwords at this rate would otherwise be held back by the failure throttle. */
const NO_THROTTLE = { realmJoin: true, throttleAfter: '0' };

const base = { clients: 4, durationMs: 400, realm: 'example.org', service: 'smtp', requestTimeoutMs: 2000 } satisfies Partial<LoadOptions>;

describe('mux-load, the C load generator', () => {
  it('asks as libsasl2 does and finds every answer right when the daemon is right', async () => {
    const { socketPath, sink } = await startTestDaemon(['demo@example.org:' + DEMO_HASH, 'bob@example.org:{PLAIN}bob-pw'], NO_THROTTLE);
    const result = await runCLoad(binary(), {
      ...base,
      socketPath,
      users: [{ login: 'demo', password: 'demo' }, { login: 'bob', password: 'bob-pw' }],
      wrongShare: 0.3,
    });
    expect(result.requests).toBeGreaterThan(50);
    expect(result.wrongAnswers).toBe(0);
    expect(result.noReply).toBe(0);
    expect(result.perSecond).toBeGreaterThan(0);
    expect(result.p99Ms).toBeGreaterThanOrEqual(result.p50Ms);
    expect(result.generatorCpuPercent).toBeGreaterThanOrEqual(0);
    // Both kinds were sent: the daemon saw wrong passwords as well as right ones, for both users.
    const auths = sink.records().filter((r) => r.event === 'auth');
    expect(new Set(auths.map((r) => `${String(r.user)} ${String(r.result)}`))).toEqual(
      new Set(['demo@example.org success', 'demo@example.org failure', 'bob@example.org success', 'bob@example.org failure']),
    );
  }, 20_000);

  it('counts a NO to a right password, and an OK to a wrong one, as wrong answers', async () => {
    // The generator believes bob's password is "not-it": every "right" login gets NO, and with
    // wrong-share 0 every request is one of those.
    const { socketPath } = await startTestDaemon(['bob@example.org:{PLAIN}bob-pw'], NO_THROTTLE);
    const refused = await runCLoad(binary(), { ...base, socketPath, users: [{ login: 'bob', password: 'not-it' }], wrongShare: 0 });
    expect(refused.requests).toBeGreaterThan(0);
    expect(refused.wrongAnswers).toBe(refused.requests);
    // The "wrong" password is the listed one plus "-wrong": make that the real one, and every wrong login gets OK.
    const { socketPath: other } = await startTestDaemon(['eve@example.org:{PLAIN}x-wrong'], NO_THROTTLE);
    const accepted = await runCLoad(binary(), { ...base, socketPath: other, users: [{ login: 'eve', password: 'x' }], wrongShare: 1 });
    expect(accepted.requests).toBeGreaterThan(0);
    expect(accepted.wrongAnswers).toBe(accepted.requests);
  }, 20_000);

  it('counts a close without a reply as no reply, not as an answer', async () => {
    const socketPath = path.join(tempDir(), 'mux');
    const server = net.createServer((socket) => socket.once('data', () => socket.destroy()));
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
      const result = await runCLoad(binary(), { ...base, socketPath, users: [{ login: 'demo', password: 'demo' }], wrongShare: 0.5 });
      expect(result.requests).toBeGreaterThan(0);
      expect(result.noReply).toBe(result.requests);
      expect(result.wrongAnswers).toBe(0);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }, 20_000);

  it('refuses bad arguments and users it cannot pass on', async () => {
    // Many users: mux-load exits before reading them, and the write into its closed stdin must not escape as an uncaught EPIPE.
    const many = Array.from({ length: 20_000 }, (_, i) => ({ login: `user${i}`, password: `password-${i}` }));
    await expect(runCLoad(binary(), { ...base, clients: 0, socketPath: '/nonexistent/mux', users: many, wrongShare: 0 })).rejects.toThrow(/bad arguments/);
    await expect(runCLoad(binary(), { ...base, socketPath: '/nonexistent/mux', users: [{ login: 'a\tb', password: 'b' }], wrongShare: 0 })).rejects.toThrow(/no tab or newline/);
  });

  it("repeats each user's wrong password, or sends a new one every time when asked", async () => {
    // The daemon's rejected cache tells the two apart: only a repeat of a password that already
    // failed against the same row is answered from it.
    const fromCache = async (generator: 'c' | 'node', wrongPasswords: 'repeat' | 'distinct') => {
      const { socketPath, sink } = await startTestDaemon(['bob@example.org:{PLAIN}bob-pw'], NO_THROTTLE);
      const options = { ...base, durationMs: 300, socketPath, users: [{ login: 'bob', password: 'bob-pw' }], wrongShare: 1, wrongPasswords };
      const result = generator === 'c' ? await runCLoad(binary(), options) : await runLoad(options);
      expect(result.wrongAnswers).toBe(0);
      const failures = sink.authEvents().filter((e) => e.result === 'failure');
      expect(failures.length).toBeGreaterThan(20);
      return failures.filter((e) => e.cache === 'rejected').length / failures.length;
    };
    for (const generator of ['c', 'node'] as const) {
      // Every repeat after the first one or few (the clients start together) comes from the cache.
      expect(await fromCache(generator, 'repeat')).toBeGreaterThan(0.8);
      expect(await fromCache(generator, 'distinct')).toBe(0);
    }
  }, 20_000);

  it('open loop: sends at the rate asked, whatever the answers do, and checks every answer', async () => {
    const { socketPath } = await startTestDaemon(['demo@example.org:' + DEMO_HASH, 'bob@example.org:{PLAIN}bob-pw'], NO_THROTTLE);
    const open = { socketPath, ratePerSecond: 400, durationMs: 1000, realm: 'example.org', service: 'smtp', wrongShare: 0.3, requestTimeoutMs: 2000 };
    const right = await runCOpenLoop(binary(), { ...open, users: [{ login: 'demo', password: 'demo' }, { login: 'bob', password: 'bob-pw' }] });
    // Poisson arrivals: 400 expected, far outside 300-500 only by a broken schedule.
    expect(right.answeredPerSecond).toBeGreaterThan(300);
    expect(right.answeredPerSecond).toBeLessThan(500);
    expect(right.wrongAnswers).toBe(0);
    expect(right.noReply).toBe(0);
    expect(right.p999Ms).toBeGreaterThanOrEqual(right.p99Ms);
    expect(right.maxMs).toBeGreaterThanOrEqual(right.p999Ms);
    const refused = await runCOpenLoop(binary(), { ...open, wrongShare: 0, users: [{ login: 'bob', password: 'not-it' }] });
    expect(refused.wrongAnswers).toBeGreaterThan(300);
    expect(refused.wrongAnswers).toBe(Math.round((refused.answeredPerSecond * open.durationMs) / 1000));
  }, 20_000);

  it('open loop: counts latency from when a login was due, so a daemon that stalls shows its queue', async () => {
    // Answers nothing for the first 600 ms, then everything at once. With 4 threads, 4 logins are
    // sent on time and the other ~116 due meanwhile only once the stall ends: counted from when
    // they were due they waited 0 to 600 ms (a median near 300), counted from when they were sent
    // they would look instant.
    const socketPath = path.join(tempDir(), 'mux');
    const stalledUntil = performance.now() + 600;
    const reply = Buffer.from([0, 2, 0x4f, 0x4b]);
    const server = net.createServer((socket) => {
      socket.once('data', () => setTimeout(() => socket.end(reply), Math.max(0, stalledUntil - performance.now())));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
      const options = { socketPath, ratePerSecond: 200, durationMs: 600, realm: 'example.org', service: 'smtp', wrongShare: 0, users: [{ login: 'demo', password: 'demo' }] };
      const result = await runCOpenLoop(binary(), options, 4);
      expect(result.noReply).toBe(0);
      expect(result.lateSends).toBeGreaterThan(50);
      expect(result.p50Ms).toBeGreaterThan(150);
      expect(result.maxMs).toBeGreaterThan(450);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }, 20_000);
});
