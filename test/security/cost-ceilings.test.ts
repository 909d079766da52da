/**
 * Attack: a row whose stored value asks for absurd work (bcrypt cost 31,
 * 999,999,999 sha-crypt rounds, an 8 GiB Argon2, phpass 2^30). Every login
 * that touches it would take the daemon's CPU or memory. The real process must
 * refuse each at once, as a failed login with its own code, and stay small.
 */
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { spawnDaemon } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const HASH_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789./';
const fill = (length: number) => Array.from({ length }, (_, i) => HASH_CHARS[i % 64]).join('');

/** Well-formed values at the formats' own maxima: parsing them is cheap, computing them is not. */
const ABSURD = {
  bcrypt: `$2b$31$${fill(53)}`,
  sha: `$6$rounds=999999999$saltsaltsaltsalt$${fill(86)}`,
  argon2: `$argon2id$v=19$m=8388608,t=3,p=1$c2FsdHNhbHRzYWx0c2FsdA$${'A'.repeat(43)}`,
  phpass: `$P$S${fill(8)}${fill(22)}`,
  drupal: `$S$S${fill(8)}${fill(43)}`,
};

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
}

describe('stored values above the cost ceilings', () => {
  it('are refused at once, never computed: a temporary failure (a problem of the row) with ERR_COST_CEILING, and no memory spent', async () => {
    const dir = tempDir();
    const passwd = path.join(dir, 'passwd');
    writeFileSync(passwd, Object.entries(ABSURD).map(([name, value]) => `${name}@example.org:${value}\n`).join(''));
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-r', '-m', path.join(dir, 'run'), '--throttle-after', '0']);
    const socketPath = path.join(dir, 'run', 'mux');
    const before = rssMb(daemon.child.pid!);
    for (const name of Object.keys(ABSURD)) {
      const started = performance.now();
      // Two at once, so a computed value would also have queued.
      const replies = await Promise.all([1, 2].map(() => exchange(socketPath, requestFrame({ login: name, password: 'any', service: 'smtp', realm: 'example.org' }), { timeoutMs: 10_000 })));
      expect(replies.map((reply) => reply.reply), name).toEqual([undefined, undefined]);
      expect(performance.now() - started, name).toBeLessThan(500);
    }
    expect(rssMb(daemon.child.pid!) - before).toBeLessThan(50);
    await daemon.stop();
    const events = daemon.records().filter((record) => record.event === 'auth');
    expect(events).toHaveLength(10);
    expect(new Set(events.map((event) => event.code))).toEqual(new Set(['ERR_COST_CEILING']));
    expect(events.find((event) => event.user === 'sha@example.org')?.reason).toBe('sha-crypt rounds 999999999 is above the ceiling 1000000 (--max-sha-crypt-rounds): not computed');
  });

  it('are configurable: a raised ceiling lets a value through to its check', async () => {
    const dir = tempDir();
    const passwd = path.join(dir, 'passwd');
    // "secret" with 2000 rounds: above a ceiling of 1000, within the default.
    writeFileSync(passwd, 'alice@example.org:$6$rounds=2000$saltsalt$GBImuhotpiUgeciq/ZS6UaMklAGJMK25wd5Tacv1I0CcSmxHOQQLpmVKYRPIU6LoFrr4iPAAmsqUTjBoZ.Fwr/\n');
    const strict = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-r', '-m', path.join(dir, 'strict'), '--max-sha-crypt-rounds', '1000']);
    expect((await exchange(path.join(dir, 'strict', 'mux'), requestFrame({ login: 'alice', password: 'secret', service: 'smtp', realm: 'example.org' }))).reply).toBeUndefined();
    await strict.stop();
    expect(strict.records().find((record) => record.event === 'auth')).toMatchObject({ code: 'ERR_COST_CEILING' });
    await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-r', '-m', path.join(dir, 'lenient')]);
    expect((await exchange(path.join(dir, 'lenient', 'mux'), requestFrame({ login: 'alice', password: 'secret', service: 'smtp', realm: 'example.org' }))).reply).toBe('OK');
  });
});
