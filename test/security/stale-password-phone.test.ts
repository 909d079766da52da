/**
 * Not an attack, the everyday case it must not be mistaken for: a phone with
 * the old password, retrying every few seconds after a password change. Each
 * retry of the same wrong password used to count as a new guess, so the
 * phone throttled its owner's name, and the owner's laptop, with the right
 * password, waited its turn behind the phone's held-back failures. A repeat
 * is one failure, as Dovecot's auth penalty counts it. Against the real process.
 */
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { spawnDaemon } from '../helpers/cli.js';
import { DEMO_HASH } from '../helpers/daemon.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { tempDir } from '../helpers/temp.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a phone retrying an old password', () => {
  it("is one failure, and never delays its owner's other devices", async () => {
    const dir = tempDir();
    const passwd = path.join(dir, 'passwd');
    writeFileSync(passwd, `alice:${DEMO_HASH}\n`);
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-m', path.join(dir, 'run'), '--throttle-after', '3', '--throttle-max-delay', '2000']);
    const socketPath = path.join(dir, 'run', 'mux');
    const login = async (password: string) => {
      const started = performance.now();
      const reply = (await exchange(socketPath, requestFrame({ login: 'alice', password, service: 'smtp', realm: '' }), { timeoutMs: 15_000 })).reply;
      return { reply, ms: performance.now() - started };
    };
    const until = Date.now() + 4_000;
    // The phone, every 100 ms (every few seconds, compressed); the laptop, ten times less often (a success starts the name over).
    const phone = (async () => {
      const replies: Array<string | undefined> = [];
      while (Date.now() < until) {
        replies.push((await login('the old password')).reply);
        await sleep(100);
      }
      return replies;
    })();
    const laptop = (async () => {
      const logins: Array<{ reply: string | undefined; ms: number }> = [];
      while (Date.now() < until) {
        await sleep(1_000);
        logins.push(await login('demo'));
      }
      return logins;
    })();
    const [phoneReplies, laptopLogins] = await Promise.all([phone, laptop]);
    process.stderr.write(`[stale password] phone: ${phoneReplies.length} retries; laptop: ${laptopLogins.length} logins, slowest ${Math.max(...laptopLogins.map((l) => l.ms)).toFixed(0)} ms\n`);
    expect(phoneReplies.length).toBeGreaterThan(15);
    expect(new Set(phoneReplies)).toEqual(new Set(['NO authentication failed']));
    expect(laptopLogins.every((l) => l.reply === 'OK')).toBe(true);
    expect(Math.max(...laptopLogins.map((l) => l.ms))).toBeLessThan(200);
    expect(daemon.records().filter((r) => r.event === 'throttle')).toEqual([]);
    await daemon.stop();
  }, 60_000);
});
