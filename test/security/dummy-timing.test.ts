/**
 * Attack: steer the dummy check that unknown names cost. Before, unknown names
 * were checked against the last value verified, so touching one md5crypt user
 * made unknown names fast in a bcrypt table (which names exist was visible),
 * and touching one costly row made every unknown name costly. Against the real
 * process, over its socket.
 */
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { spawnDaemon } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { makeStoredValue } from '../../src/crypt/make-stored-value.js';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

describe('the dummy check for unknown names', () => {
  it('costs what the table\'s usual value costs, whatever was verified just before', async () => {
    const dir = tempDir();
    const passwd = path.join(dir, 'passwd');
    const bcrypt = await Promise.all(Array.from({ length: 6 }, () => makeStoredValue('BLF-CRYPT', Buffer.from('secret'), { cost: 9 })));
    const lines = [
      ...bcrypt.map((value, i) => `b${i}:${value}`),
      `fast:${await makeStoredValue('MD5-CRYPT', Buffer.from('secret'))}`,
      // Under the default ceiling, well-formed, and costly to compute (the digest need not be right for the cost).
      `costly:$6$rounds=400000$saltsaltsaltsalt$${'a'.repeat(86)}`,
    ];
    writeFileSync(passwd, `${lines.join('\n')}\n`);
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-m', path.join(dir, 'run'), '--throttle-after', '0']);
    const socketPath = path.join(dir, 'run', 'mux');
    let guess = 0;
    const timed = async (login: string) => {
      const started = performance.now();
      // A new wrong password each time: a repeat would come from the rejected cache.
      const { reply } = await exchange(socketPath, requestFrame({ login, password: `guess-${(guess += 1)}`, service: 'smtp', realm: '' }), { timeoutMs: 20_000 });
      expect(reply).toBe('NO authentication failed');
      return performance.now() - started;
    };
    const sample = async (login: () => string) => {
      const times: number[] = [];
      for (let i = 0; i < 5; i += 1) times.push(await timed(login()));
      return median(times);
    };
    let unknown = 0;
    const bcryptUser = await sample(() => 'b1');

    await timed('fast');
    const afterFast = await sample(() => `nobody-${(unknown += 1)}`);
    const costly = await timed('costly');
    const afterCostly = await sample(() => `nobody-${(unknown += 1)}`);
    await daemon.stop();

    // An unknown name costs about what a bcrypt user does, not md5crypt's fraction of a millisecond...
    expect(afterFast).toBeGreaterThan(bcryptUser * 0.4);
    // ...and not what the one costly row costs.
    expect(afterCostly).toBeLessThan(Math.max(costly * 0.5, bcryptUser * 3));
    expect(afterCostly).toBeGreaterThan(bcryptUser * 0.4);
  }, 60_000);
});
