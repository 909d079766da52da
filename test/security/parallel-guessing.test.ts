/**
 * Attack: fire many guesses at once for a throttled user. If only failure
 * answers were delayed, every guess would be evaluated at once and the right
 * one answered OK at once while the wrong ones wait. The throttle must bound
 * how fast guesses are *evaluated*, whatever the concurrency, and must not
 * lock the owner out while it does. Against the real process, over its socket.
 */
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { DEMO_HASH } from '../helpers/daemon.js';
import { tempDir } from '../helpers/temp.js';

async function start(flags: string[]): Promise<{ daemon: DaemonProcess; ask: (password: string, clientAddress?: string) => Promise<{ reply: string | undefined; ms: number }> }> {
  const dir = tempDir();
  const passwd = path.join(dir, 'passwd');
  writeFileSync(passwd, `alice:${DEMO_HASH}\n`);
  const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-m', path.join(dir, 'run'), ...flags]);
  const socketPath = path.join(dir, 'run', 'mux');
  const ask = async (password: string, clientAddress?: string) => {
    const started = performance.now();
    const frame = requestFrame({ login: 'alice', password, service: 'smtp', realm: '', ...(clientAddress === undefined ? {} : { clientAddress }) });
    const { reply } = await exchange(socketPath, frame, { timeoutMs: 30_000 });
    return { reply, ms: performance.now() - started };
  };
  return { daemon, ask };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const evaluated = (daemon: DaemonProcess) => daemon.records().filter((r) => r.event === 'auth' && r.user === 'alice' && r.result !== 'temporary-failure');

/** Guess without pause until `untilMs` (performance.now()), each attacker one connection at a time. */
async function attack(ask: (password: string, address?: string) => Promise<{ reply: string | undefined }>, untilMs: number, address?: string): Promise<Array<string | undefined>> {
  const replies: Array<string | undefined> = [];
  for (let n = 0; performance.now() < untilMs; n += 1) {
    replies.push((await ask(`wrong-${n}-${Math.random()}`, address)).reply);
  }
  return replies;
}

describe('guesses fired in parallel at a throttled user', () => {
  it('are evaluated one at a time: the right one waits its turn behind the wrong ones', async () => {
    const { daemon, ask } = await start(['--throttle-after', '3', '--throttle-max-delay', '1000', '--answer-timeout', '20000']);
    for (let i = 0; i < 3; i += 1) expect((await ask(`before-${i}`)).reply).toBe('NO authentication failed');
    // Nine at once, in this order: four wrong, the right one, four wrong.
    const passwords = ['w1', 'w2', 'w3', 'w4', 'demo', 'w5', 'w6', 'w7', 'w8'];
    const answers: Array<Promise<{ reply: string | undefined; ms: number }>> = [];
    for (const password of passwords) {
      answers.push(ask(password));
      await sleep(5);
    }
    const right = await answers[4]!;
    expect(right.reply).toBe('OK');
    // Four failures were judged before it, each holding the name for its delay: at least 125 + 250 + 500 + 500 ms
    // (the lower halves of 250, 500, 1000 and 1000). Evaluated all at once, it would have come back at once.
    expect(right.ms).toBeGreaterThanOrEqual(1375 - 50);
    await Promise.all(answers);
    await daemon.stop();
    // In the log, each evaluation starts only after the one before it has sat out its delay.
    const events = evaluated(daemon).slice(3, 8);
    for (let i = 1; i < events.length; i += 1) {
      const gap = Number(events[i]!.time) - Number(events[i - 1]!.time);
      expect(gap).toBeGreaterThanOrEqual(Number(events[i - 1]!.delayMs ?? 0) - 5);
    }
  }, 30_000);

  it('with saslauthd -c, a remembered right password waits its turn like any other guess', async () => {
    const { daemon, ask } = await start(['-c', '-V', '--throttle-after', '3', '--throttle-max-delay', '1000', '--answer-timeout', '20000']);
    expect((await ask('demo')).reply).toBe('OK');
    for (let i = 0; i < 3; i += 1) expect((await ask(`before-${i}`)).reply).toBe('NO authentication failed');
    const answers: Array<Promise<{ reply: string | undefined; ms: number }>> = [];
    for (const password of ['w1', 'w2', 'w3', 'demo']) {
      answers.push(ask(password));
      await sleep(5);
    }
    const right = await answers[3]!;
    expect(right.reply).toBe('OK');
    // Behind three failures judged one at a time: at least 125 + 250 + 500 ms.
    expect(right.ms).toBeGreaterThanOrEqual(875 - 50);
    await Promise.all(answers);
    await daemon.stop();
    expect(evaluated(daemon).at(-1)).toMatchObject({ result: 'success', cache: 'credential' });
  }, 30_000);

  it('are evaluated at a bounded rate however many guessers there are, and the overflow is a temporary failure, never a "no"', async () => {
    const maxDelay = 400;
    const { daemon, ask } = await start(['--throttle-after', '3', '--throttle-max-delay', String(maxDelay), '--answer-timeout', '20000']);
    const started = performance.now();
    const until = started + 4000;
    const replies = (await Promise.all(Array.from({ length: 16 }, () => attack(ask, until)))).flat();
    const elapsed = performance.now() - started;
    await daemon.stop();
    const judged = evaluated(daemon);
    // The queue keeps moving: every waiter is admitted or refused long before its answer deadline. A queue that lost
    // its wake-up would sit until the deadline and then evaluate guesses whose clients had been told "try later".
    expect(daemon.records().filter((r) => r.code === 'ERR_AUTH_TIMEOUT')).toEqual([]);
    // The bound (docs/security.md): afterFailures at once before the name is throttled, then one evaluation per
    // delay, and every delay from the fifth failure on is at least half of min(max, 250 * 2^k): 125 ms, then 200 ms.
    const bound = 3 + 1 + 1 + Math.ceil((elapsed - 125) / (maxDelay / 2));
    console.log(`16 guessers for ${Math.round(elapsed)} ms: ${judged.length} guesses evaluated (bound ${bound})`);
    expect(judged.length).toBeLessThanOrEqual(bound);
    // Sixteen guessers at one name do fill its queue: those get no answer (the MTA says 454), never a "no".
    const unanswered = replies.filter((reply) => reply === undefined).length;
    expect(unanswered).toBeGreaterThan(0);
    expect(replies.filter((reply) => reply === 'NO authentication failed').length).toBe(judged.length);
    expect(daemon.records().filter((r) => r.code === 'ERR_THROTTLE_BUSY').length).toBe(unanswered);
  }, 30_000);

  it('do not hold back the owner at an address that logged in as them before', async () => {
    const { daemon, ask } = await start(['--throttle-after', '3', '--throttle-max-delay', '2000', '--answer-timeout', '4000']);
    const home = '198.51.100.7;40001';
    expect((await ask('demo', home)).reply).toBe('OK');
    // Guessers everywhere else: twelve addresses, and four with no address at all.
    const until = performance.now() + 3000;
    const guessers = [
      ...Array.from({ length: 12 }, (_, i) => attack(ask, until, `203.0.113.${i + 1};5${i}000`)),
      ...Array.from({ length: 4 }, () => attack(ask, until)),
    ];
    await sleep(1000);
    // The name is throttled and its queue is full, yet the owner at home is answered at once, every time.
    expect(daemon.records().some((r) => r.event === 'throttle' && r.by === 'user')).toBe(true);
    for (let i = 0; i < 3; i += 1) {
      const login = await ask('demo', `198.51.100.7;4100${i}`);
      expect(login.reply).toBe('OK');
      expect(login.ms).toBeLessThan(500);
      await sleep(200);
    }
    // With no address the owner cannot be told from the guessers: the right password waits its turn or gets a
    // temporary failure (docs/security.md), and is never answered "no".
    expect([undefined, 'OK']).toContain((await ask('demo')).reply);
    await Promise.all(guessers);
    await daemon.stop();
  }, 30_000);
});
