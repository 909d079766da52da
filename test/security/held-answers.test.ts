/**
 * Attack: keep every connection slot busy with cheap guesses for a throttled
 * user whose answers the daemon holds back, hanging up at once, so that every
 * other user's login is refused. And: hang up on expensive checks so the
 * daemon computes hashes nobody waits for, or cut them short so that it
 * starts more threads than --verify-threads. Against the real process, over
 * its socket.
 */
import net from 'node:net';
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { DEMO_HASH, eventually } from '../helpers/daemon.js';
import { tempDir } from '../helpers/temp.js';
import { requireNativeCrypt } from '../helpers/native.js';

/** "secret" at 999,999 rounds: about a third of a second in libxcrypt, just under the default ceiling. */
const SLOW_SECRET = '$6$rounds=999999$abcdefgh$WYYPpuxihcdVf1kTzTn5jqnuH4E9cya05kDRy7/lNfxjxon0vXk8pQTkrdBOZKRHjsFt82EufUpSU.jVJARS71';

async function start(lines: string[], flags: string[]): Promise<{ daemon: DaemonProcess; socketPath: string }> {
  const dir = tempDir();
  const passwd = path.join(dir, 'passwd');
  writeFileSync(passwd, lines.map((line) => `${line}\n`).join(''));
  const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-m', path.join(dir, 'run'), ...flags]);
  return { daemon, socketPath: path.join(dir, 'run', 'mux') };
}

/** Send a request and hang up as soon as it is written (or after `afterMs`). */
function sendAndHangUp(socketPath: string, frame: Buffer, afterMs = 0): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ path: socketPath });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
    socket.on('connect', () => socket.write(frame, () => setTimeout(() => socket.destroy(), afterMs)));
  });
}

const authEvents = (daemon: DaemonProcess, user?: string) => daemon.records().filter((r) => r.event === 'auth' && (user === undefined || r.user === user));

describe('held answers', () => {
  it("guesses held back for a throttled user never take the places other users' logins need", async () => {
    // Every client here is this process, one peer: its limit (--max-connections-per-peer) is not the subject.
    const { daemon, socketPath } = await start([`alice:${DEMO_HASH}`, `bob:${DEMO_HASH}`], ['--max-connections', '8', '--max-connections-per-peer', '100', '--throttle-after', '2', '--throttle-max-delay', '2000', '--answer-timeout', '3000']);
    for (const guess of ['g1', 'g2']) expect((await exchange(socketPath, requestFrame({ login: 'alice', password: guess, service: 'smtp', realm: '' }))).reply).toBe('NO authentication failed');

    // Forty guesses for alice, each repeating one the rejected cache knows (no hash), from clients that hang up at once,
    // four at a time so that each gets past the cap of eight.
    for (let batch = 0; batch < 10; batch += 1) {
      await Promise.all(Array.from({ length: 4 }, () => sendAndHangUp(socketPath, requestFrame({ login: 'alice', password: 'g1', service: 'smtp', realm: '' }))));
    }
    // And eight more that stay and wait: they are held outside the connection cap.
    const stayers = Array.from({ length: 8 }, (_, i) => exchange(socketPath, requestFrame({ login: 'alice', password: `stay${i}`, service: 'smtp', realm: '' }), { timeoutMs: 30_000 }));
    await eventually(() => authEvents(daemon, 'alice').length >= 2 + 40 + 1, 3000, 20);

    // bob is answered at once, every time.
    for (let i = 0; i < 5; i += 1) {
      const started = performance.now();
      expect((await exchange(socketPath, requestFrame({ login: 'bob', password: 'demo', service: 'smtp', realm: '' }))).reply).toBe('OK');
      expect(performance.now() - started).toBeLessThan(1000);
    }
    // The clients that hung up were noticed: their waits were cancelled, not sat out.
    await eventually(() => authEvents(daemon, 'alice').filter((e) => e.code === 'ERR_ABANDONED').length >= 30, 3000, 50);
    const alice = authEvents(daemon, 'alice');
    // Of the guesses that went away, at most the one being evaluated when they arrived was judged.
    expect(alice.filter((e) => e.result === 'failure').length).toBeLessThanOrEqual(2 + 2 + 8);
    // The stayers: a guess is evaluated one at a time, each held for the delay it earned, so within the answer deadline
    // some are answered NO and the rest are told to come back later (no reply), each for a reason the log gives.
    const replies = await Promise.all(stayers.map(async (stayer) => (await stayer).reply));
    expect(replies.filter((reply) => reply !== undefined).every((reply) => reply === 'NO authentication failed')).toBe(true);
    expect(replies.filter((reply) => reply === 'NO authentication failed').length).toBeGreaterThan(0);
    const unanswered = replies.filter((reply) => reply === undefined).length;
    const toldToComeBack = daemon.records().filter((r) => r.code === 'ERR_AUTH_TIMEOUT').length + authEvents(daemon, 'alice').filter((e) => e.code === 'ERR_THROTTLE_BUSY').length;
    expect(unanswered).toBeLessThanOrEqual(toldToComeBack);
    await daemon.stop();
  }, 60_000);

  it('a client that hangs up cancels its queued hash: only the one already running is computed', async () => {
    requireNativeCrypt();
    const { daemon, socketPath } = await start([`carol:${SLOW_SECRET}`], ['--verify-threads', '1', '--throttle-after', '0']);
    // Six guesses at once for a slow hash on one thread: one runs, five queue. All hang up after 50 ms.
    await Promise.all(Array.from({ length: 6 }, (_, i) => sendAndHangUp(socketPath, requestFrame({ login: 'carol', password: `guess${i}`, service: 'smtp', realm: '' }), 50)));
    await eventually(() => authEvents(daemon, 'carol').length === 6, 5000, 20);
    const events = authEvents(daemon, 'carol');
    // The queued ones were dropped when their clients went away, long before a thread was free for them.
    expect(events.filter((e) => e.code === 'ERR_ABANDONED').length).toBeGreaterThanOrEqual(4);
    expect(events.filter((e) => e.code === 'ERR_WRONG_PASSWORD').length).toBeLessThanOrEqual(2);
    await daemon.stop();
  }, 30_000);

  it('a check cut short by its deadline leaves no more threads than --verify-threads', async () => {
    requireNativeCrypt();
    const { daemon, socketPath } = await start([`carol:${SLOW_SECRET}`], ['--verify-threads', '1', '--throttle-after', '0', '--answer-timeout', '120']);
    const threads = () => Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${daemon.child.pid}/status`, 'utf8'))?.[1]);
    const ask = (password: string) => exchange(socketPath, requestFrame({ login: 'carol', password, service: 'smtp', realm: '' }), { timeoutMs: 10_000 });
    const sampleMaxDuring = async (work: () => Promise<unknown>): Promise<number> => {
      let max = threads();
      const sampler = setInterval(() => (max = Math.max(max, threads())), 5);
      try {
        await work();
        await new Promise((resolve) => setTimeout(resolve, 400));
      } finally {
        clearInterval(sampler);
      }
      return Math.max(max, threads());
    };
    // Warm up: the pool's one thread exists, and libuv's pool has started.
    await ask('warm-up');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const settled = threads();
    // Each check outlives the 120 ms deadline; the next one arrives while the cut-off one still computes.
    const peak = await sampleMaxDuring(async () => {
      for (let i = 0; i < 4; i += 1) await Promise.all([ask(`a${i}`), new Promise((resolve) => setTimeout(resolve, 130)).then(() => ask(`b${i}`))]);
    });
    expect(peak).toBeLessThanOrEqual(settled);
    await daemon.stop();
  }, 60_000);
});
