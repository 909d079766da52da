/**
 * Attack: whoever can write to the Redis that the mail hosts share the
 * throttle through (not read the key file: the keys are HMAC digests)
 * sets a user's counts to a thousand and writes a turn without expiry beside
 * each. Every host then waited for that turn until the answer deadline, on
 * every login of that user. Against the real process and a real redis-server.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KEY_NAMESPACE } from '../../src/auth/redis-throttle-store.js';
import { spawnDaemon } from '../helpers/cli.js';
import { DEMO_HASH, eventually } from '../helpers/daemon.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { tempDir } from '../helpers/temp.js';
import { ThrowawayRedis } from '../helpers/throwaway-redis.js';

const MAX_DELAY_MS = 800;

describe('a Redis writer', () => {
  it("cannot hold a user's logins back: a turn no host wrote is taken over, and a poisoned count delays no more than --throttle-max-delay", async () => {
    const redis = await ThrowawayRedis.create();
    const dir = tempDir();
    const passwd = path.join(dir, 'passwd');
    writeFileSync(passwd, `alice:${DEMO_HASH}\n`);
    const keyFile = path.join(dir, 'throttle.key');
    writeFileSync(keyFile, 'a secret the mail hosts share, long enough\n', { mode: 0o600 });
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-m', path.join(dir, 'run'), '--throttle-store', redis.url, '--throttle-store-key-file', keyFile, '--throttle-after', '3', '--throttle-max-delay', String(MAX_DELAY_MS), '--answer-timeout', '3000']);
    const socketPath = path.join(dir, 'run', 'mux');
    const ask = async (password: string) => {
      const started = performance.now();
      const reply = (await exchange(socketPath, requestFrame({ login: 'alice', password, service: 'smtp', realm: '' }), { timeoutMs: 10_000 })).reply ?? 'no reply';
      return { reply, ms: performance.now() - started };
    };
    const client = redis.client();
    // Two failures, so alice's count is in Redis (once the daemon's connection is up).
    await eventually(async () => {
      await ask('wrong');
      return (await client.keys(`${KEY_NAMESPACE}count:*`)).length > 0;
    }, 10_000, 200);
    // The writer: every count to a thousand, and beside each a turn that never expires.
    for (const count of await client.keys(`${KEY_NAMESPACE}count:*`)) {
      await client.set(count, '1000', 'PX', 600_000);
      await client.set(count.replace(':count:', ':turn:'), 'mine, for ever');
    }
    // The right password: answered at once, not at the deadline.
    const right = await ask('demo');
    expect(right.reply).toBe('OK');
    expect(right.ms).toBeLessThan(1_000);
    // A wrong one: a "no", delayed by no more than the ceiling.
    const wrong = await ask('still wrong');
    expect(wrong.reply).toBe('NO authentication failed');
    expect(wrong.ms).toBeLessThan(MAX_DELAY_MS + 700);
    expect(daemon.records().filter((r) => r.event === 'auth' && Number(r.delayMs) > MAX_DELAY_MS)).toEqual([]);
    await daemon.stop();
  }, 60_000);
});
