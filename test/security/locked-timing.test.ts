/**
 * Attack: tell a locked mailbox ("!" in front of its hash, as passwd -l
 * writes it) from an active one by the time its "no" takes. A lock marker is
 * decided without a hash, so without a dummy check it answered at once.
 * Against the real process.
 */
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI, run, spawnDaemon } from '../helpers/cli.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { tempDir } from '../helpers/temp.js';

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('a locked mailbox', () => {
  it('answers no later, and no sooner, than a wrong password for an active one', async () => {
    // A cost a mail host uses (tens of milliseconds): the time to hide.
    const hashed = await run(process.execPath, [CLI, 'hash', '--scheme', 'SHA512-CRYPT', '--rounds', '200000'], { stdin: 'secret' });
    const stored = hashed.stdout.trim();
    expect(stored).toMatch(/^\$6\$rounds=200000\$/);
    const dir = tempDir();
    const passwd = path.join(dir, 'passwd');
    writeFileSync(passwd, `active:${stored}\nlocked:!${stored}\n`);
    // No throttle (its delays would be the measure) and no verified cache: every answer is computed.
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-m', path.join(dir, 'run'), '--throttle-after', '0', '--verify-cache', '0']);
    const socketPath = path.join(dir, 'run', 'mux');
    const timed = async (login: string, password: string) => {
      const started = performance.now();
      expect((await exchange(socketPath, requestFrame({ login, password, service: 'smtp', realm: '' }))).reply).toBe('NO authentication failed');
      return performance.now() - started;
    };
    const active: number[] = [];
    const locked: number[] = [];
    for (let i = 0; i < 7; i += 1) {
      active.push(await timed('active', `wrong-${i}`));
      locked.push(await timed('locked', i % 2 === 0 ? 'secret' : `wrong-${i}`));
    }
    process.stderr.write(`[locked timing] median ms: active, wrong password ${median(active).toFixed(1)}; locked ${median(locked).toFixed(1)}\n`);
    expect(median(locked)).toBeGreaterThan(median(active) * 0.6);
    expect(median(locked)).toBeLessThan(median(active) * 1.6);
    expect(daemon.records().filter((r) => r.event === 'auth' && r.user === 'locked').every((r) => r.code === 'ERR_ACCOUNT_LOCKED')).toBe(true);
    await daemon.stop();
  }, 60_000);
});
