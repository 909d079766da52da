/**
 * The compromised-account signal across two mail hosts sharing a throttle store: two daemons
 * on one throwaway redis-server. Networks seen on either host count together, one host says
 * it, the block holds on both, and unblock on one lifts it on both. Redis holds digests only.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { runUnblock } from '../../src/cli/unblock.js';
import { ErrorCodes } from '../../src/errors.js';
import { afterThisTest } from '../helpers/cleanup.js';
import { DEMO_HASH, eventually, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { tempDir } from '../helpers/temp.js';
import { ThrowawayRedis } from '../helpers/throwaway-redis.js';

describe('the compromised-account signal on several hosts', () => {
  it('counts networks across hosts, says it once, and blocks and unblocks everywhere', async () => {
    const redis = await ThrowawayRedis.create();
    const keyFile = path.join(tempDir(), 'store.key');
    writeFileSync(keyFile, 'a key every host shares, long enough', { mode: 0o600 });
    const flags = { throttleStore: redis.url, throttleStoreKeyFile: keyFile, compromiseNetworks: '3', compromiseBlock: '600' };
    const hosts = [await startTestDaemon([`alice:${DEMO_HASH}`], flags), await startTestDaemon([`alice:${DEMO_HASH}`], flags)];
    const login = async (host: TestDaemon, from: string, service = 'smtp') => (await exchange(host.socketPath, requestFrame({ login: 'alice', password: 'demo', service, realm: '', clientAddress: `${from};4711` }))).reply;
    const signals = () => hosts.flatMap((host) => host.sink.records().filter((record) => record.event === 'compromise' && record.action !== 'unblock'));
    // Both hosts reach the store before the first login counts on it.
    await eventually(async () => (await login(hosts[0]!, '192.0.2.1', 'imap')) === 'OK' && hosts.every((host) => !host.sink.raw.join('').includes('unreachable')));

    expect(await login(hosts[0]!, '192.0.2.1')).toBe('OK');
    expect(await login(hosts[1]!, '198.51.100.1')).toBe('OK');
    expect(signals()).toEqual([]);
    expect(await login(hosts[0]!, '203.0.113.1')).toBe('OK');
    await eventually(() => signals().length === 1);
    // Neither host alone saw three networks; the store did, and one host said so.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(signals()).toHaveLength(1);

    await eventually(async () => (await login(hosts[1]!, '192.0.2.1')) === 'NO authentication failed');
    expect(hosts[1]!.sink.authEvents().at(-1)).toMatchObject({ code: ErrorCodes.COMPROMISE_BLOCKED });
    expect(await login(hosts[0]!, '192.0.2.1')).toBe('NO authentication failed');

    // Names and addresses stay out of Redis.
    const client = new Redis(redis.url);
    afterThisTest(() => client.quit());
    const keys = await client.keys('*');
    expect(keys.some((key) => key.includes('compromise:blocked:'))).toBe(true);
    expect(keys.join(' ')).not.toMatch(/alice|192\.0\.2/);

    // Unblock through host 0's control socket: host 1 accepts alice again too.
    const out = new PassThrough();
    const err = new PassThrough();
    const code = await runUnblock({ mech: 'passwd-file', passwdFile: hosts[0]!.passwdFile, runDir: path.join(hosts[0]!.dir, 'run'), compromiseBlock: '600' }, 'alice', out, err, {});
    expect(code, String(err.read() ?? '')).toBe(0);
    expect(String(out.read())).toBe('alice: unblocked\n');
    expect(await login(hosts[1]!, '192.0.2.1')).toBe('OK');
    expect(await login(hosts[0]!, '192.0.2.1')).toBe('OK');
  }, 30_000);
});
