/**
 * SIGHUP on the real process with -a mysql: the config file is read again, a
 * new pool replaces the old one, a login already in flight is answered by the
 * configuration it started on, the old pool's connections are closed, and a
 * broken file is refused with a log line while the running setup carries on.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnDaemon } from '../helpers/cli.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { eventually } from '../helpers/daemon.js';
import { seedMailboxServer, ThrowawayServer } from '../helpers/mysql.js';
import { tempDir } from '../helpers/temp.js';
import { daemonConnections } from '../../bench/fault-run.js';

// libxcrypt md5crypt of "first" and "second": each server knows a different password for the same user.
const FIRST = '$1$aaaaaaaa$SuAxywFD.62feeJbtVZ9E1';
const SECOND = '$1$bbbbbbbb$FRHpLM7wCegui7WWUhxc81';

let first: ThrowawayServer;
let second: ThrowawayServer;

beforeAll(async () => {
  [first, second] = await Promise.all([ThrowawayServer.create(), ThrowawayServer.create()]);
  await Promise.all([
    seedMailboxServer(first, [{ username: 'md5@example.org', password: FIRST }], { user: 'sasl', password: 'sasl-pw' }),
    seedMailboxServer(second, [{ username: 'md5@example.org', password: SECOND }], { user: 'sasl', password: 'sasl-pw' }),
  ]);
}, 90_000);

afterAll(async () => {
  await Promise.all([first?.destroy(), second?.destroy()]);
});

function configText(server: ThrowawayServer, lookup = 'table = mailbox'): string {
  return [`hosts = 127.0.0.1:${server.port}`, 'database = postfix', 'user = sasl', 'password = sasl-pw', 'query_timeout = 5000', lookup, ''].join('\n');
}

const login = (socketPath: string, password: string) =>
  exchange(socketPath, requestFrame({ login: 'md5', password, service: 'smtp', realm: 'example.org' }), { timeoutMs: 10_000 }).then((r) => r.reply);

describe('SIGHUP with -a mysql', () => {
  it('switches to the new file without dropping a login in flight, and closes the old pool', async () => {
    const dir = tempDir();
    const conf = path.join(dir, 'saslauthd-mysql.conf');
    // The first server answers slowly, so a login is still in flight when the signal arrives.
    writeFileSync(conf, configText(first, 'password_query = SELECT password FROM mailbox WHERE username = %u AND SLEEP(1.5) = 0'));
    const daemon = await spawnDaemon(['-a', 'mysql', '-O', conf, '-r', '-m', path.join(dir, 'run')]);
    const socketPath = path.join(dir, 'run', 'mux');
    expect(await login(socketPath, 'first')).toBe('OK');
    expect(await daemonConnections(first)).toBeGreaterThan(0);

    const inFlight = login(socketPath, 'first');
    await new Promise((r) => setTimeout(r, 300));
    writeFileSync(conf, configText(second));
    daemon.child.kill('SIGHUP');
    await daemon.waitForOutput('SIGHUP: configuration reloaded');

    // Started on the first configuration, answered by it.
    expect(await inFlight).toBe('OK');
    const reloaded = daemon.records().find((r) => r.event === 'reload');
    expect(reloaded).toMatchObject({ inFlightOnPrevious: 1, restartNeeded: [] });
    // New logins see the second server only.
    expect(await login(socketPath, 'second')).toBe('OK');
    expect(await login(socketPath, 'first')).toBe('NO authentication failed');
    // The first server's pool is gone once its last login answered.
    await eventually(async () => (await daemonConnections(first)) === 0, 5000);
    await daemon.stop();
  }, 30_000);

  it('refuses a broken file with a log line naming the problem, and keeps serving on the running configuration', async () => {
    const dir = tempDir();
    const conf = path.join(dir, 'saslauthd-mysql.conf');
    writeFileSync(conf, configText(first));
    const daemon = await spawnDaemon(['-a', 'mysql', '-O', conf, '-r', '-m', path.join(dir, 'run')]);
    const socketPath = path.join(dir, 'run', 'mux');
    expect(await login(socketPath, 'first')).toBe('OK');

    writeFileSync(conf, `${configText(second)}hostz = typo\n`);
    daemon.child.kill('SIGHUP');
    await daemon.waitForOutput('SIGHUP: new configuration refused, keeping the running one');
    const refused = daemon.records().find((r) => r.event === 'reload');
    expect(refused).toMatchObject({ level: 50, code: 'ERR_CONFIG' });
    expect(String(refused!.msg)).toContain(`${conf}:7: unknown key "hostz"`);
    expect(await login(socketPath, 'first')).toBe('OK');

    // Fixed, and signalled again: now it takes.
    writeFileSync(conf, configText(second));
    daemon.child.kill('SIGHUP');
    await daemon.waitForOutput('SIGHUP: configuration reloaded');
    expect(await login(socketPath, 'second')).toBe('OK');
    expect(daemon.output()).not.toContain('sasl-pw');
    await daemon.stop();
  }, 30_000);
});
