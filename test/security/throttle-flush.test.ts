/**
 * Attack: push a real user's failure count out of the throttle's table with a
 * flood of other keys (names that are not valid text, and made-up names), so
 * the next guess against that user is answered at once. Against the real
 * process, over its socket.
 */
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { spawnDaemon } from '../helpers/cli.js';
import { DEMO_HASH } from '../helpers/daemon.js';
import { tempDir } from '../helpers/temp.js';
import { MAX_TRACKED_KEYS } from '../../src/auth/throttle.js';

describe('throttle state under a flood of other names', () => {
  it("keeps a real user's count: the guess after the flood is still held back", async () => {
    const dir = tempDir();
    const passwd = path.join(dir, 'passwd');
    writeFileSync(passwd, `alice:${DEMO_HASH}\n`);
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-m', path.join(dir, 'run'), '--throttle-after', '3', '--throttle-max-delay', '600', '--read-timeout', '20000']);
    const socketPath = path.join(dir, 'run', 'mux');
    const guess = async (login: Buffer | string, password: string) => {
      const started = performance.now();
      const { reply } = await exchange(socketPath, requestFrame({ login, password, service: 'smtp', realm: '' }), { timeoutMs: 20_000 });
      return { reply, ms: performance.now() - started };
    };
    for (let i = 0; i < 3; i += 1) expect((await guess('alice', `guess${i}`)).reply).toBe('NO authentication failed');

    // More made-up names than a table holds, and names that are not valid UTF-8 (refused before any
    // lookup). The latter share one count, so after a few they are all held back: a few hundred do.
    const send = async (count: number, login: (n: number) => Buffer | string) => {
      for (let sent = 0; sent < count; sent += 100) {
        await Promise.all(Array.from({ length: Math.min(100, count - sent) }, (_, i) => exchange(socketPath, requestFrame({ login: login(sent + i), password: 'p', service: 'smtp', realm: '' }), { timeoutMs: 20_000 })));
      }
    };
    await send(300, (n) => Buffer.concat([Buffer.from(`x${n}`), Buffer.from([0xff])]));
    await send(MAX_TRACKED_KEYS + 1000, (n) => `made-up-${n}`);

    const next = await guess('alice', 'guess-after-flood');
    expect(next.reply).toBe('NO authentication failed');
    // The fourth failure is judged on three before it: held for 125 to 250 ms.
    expect(next.ms).toBeGreaterThanOrEqual(120);
    await daemon.stop();
    const last = daemon.records().filter((record) => record.event === 'auth' && record.user === 'alice').at(-1);
    expect(Number(last?.delayMs)).toBeGreaterThanOrEqual(125);
  }, 120_000);
});
