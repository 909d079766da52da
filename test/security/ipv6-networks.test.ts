/**
 * Attack: guess from a fresh IPv6 address each time. Whoever holds a /64
 * holds 2^64 addresses, so counting each address alone gives a guesser an
 * endless supply of clean ones. Against the real process, with the client's
 * address in saslauthd's fifth field.
 */
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { spawnDaemon } from '../helpers/cli.js';
import { DEMO_HASH } from '../helpers/daemon.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { tempDir } from '../helpers/temp.js';

describe('IPv6 client addresses', () => {
  it('are counted by their /64: a fresh address in a throttled network is no fresh start', async () => {
    const dir = tempDir();
    const passwd = path.join(dir, 'passwd');
    writeFileSync(passwd, `alice:${DEMO_HASH}\n`);
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-m', path.join(dir, 'run'), '--throttle-after', '3', '--throttle-max-delay', '600']);
    const socketPath = path.join(dir, 'run', 'mux');
    const ask = (login: string, from: string) => exchange(socketPath, requestFrame({ login, password: `guess for ${login}`, service: 'smtp', realm: '', clientAddress: `${from};40000` }));
    // Five guesses, each for another name, each from another address of one /64.
    for (let i = 1; i <= 5; i += 1) expect((await ask(`user${i}`, `2001:db8:1:2::${i.toString(16)}`)).reply).toBe('NO authentication failed');
    const events = () => daemon.records().filter((r) => r.event === 'auth');
    expect(events().map((r) => Number(r.delayMs ?? 0) > 0)).toEqual([false, false, false, true, true]);
    expect(daemon.records().filter((r) => r.event === 'throttle').map((r) => r.remote)).toEqual(['2001:db8:1:2::/64']);
    // Another network is another client.
    await ask('user6', '2001:db8:1:3::1');
    expect(events().at(-1)?.delayMs).toBeUndefined();
    // IPv4 written as IPv6 is the IPv4 address.
    for (let i = 7; i <= 9; i += 1) await ask(`user${i}`, i % 2 === 0 ? '::ffff:192.0.2.7' : '192.0.2.7');
    await ask('user10', '::ffff:192.0.2.7');
    expect(Number(events().at(-1)?.delayMs)).toBeGreaterThan(0);
    await daemon.stop();
  }, 30_000);
});
