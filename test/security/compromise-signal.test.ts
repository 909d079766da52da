/**
 * A stolen password used from many networks, against the real process: the signal is one
 * warning line, the account's sending logins are refused while its owner still reads mail,
 * and `saslauthd-mysql unblock` (the command, through the control socket) lifts it.
 */
import { statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { runCli, spawnDaemon } from '../helpers/cli.js';
import { DEMO_HASH } from '../helpers/daemon.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { tempDir } from '../helpers/temp.js';

describe('the compromised-account signal', () => {
  it('warns once, refuses sending logins, and is lifted by saslauthd-mysql unblock', async () => {
    const dir = tempDir();
    const passwd = path.join(dir, 'passwd');
    writeFileSync(passwd, `alice:${DEMO_HASH}\nbob:${DEMO_HASH}\n`);
    const flags = ['-a', 'passwd-file', '-O', passwd, '-m', path.join(dir, 'run'), '--compromise-networks', '3', '--compromise-block', '600'];
    const daemon = await spawnDaemon(flags);
    const socketPath = path.join(dir, 'run', 'mux');
    const login = async (user: string, service: string, from: string) => (await exchange(socketPath, requestFrame({ login: user, password: 'demo', service, realm: '', clientAddress: `${from};4711` }))).reply;
    const lastAuth = () => daemon.records().filter((record) => record.event === 'auth').at(-1);

    expect(await login('alice', 'smtp', '192.0.2.10')).toBe('OK');
    expect(await login('alice', 'imap', '192.0.2.99')).toBe('OK'); // the same /24: one network
    expect(await login('alice', 'smtp', '198.51.100.10')).toBe('OK');
    expect(daemon.records().filter((record) => record.event === 'compromise')).toEqual([]);
    expect(await login('alice', 'smtp', '203.0.113.10')).toBe('OK'); // the third network: the signal
    const signals = daemon.records().filter((record) => record.event === 'compromise');
    expect(signals).toHaveLength(1);
    expect(signals[0]).toMatchObject({ level: 40, user: 'alice', networks: 3 });

    // From then on, alice's sending logins are refused, the right password logged as right; reading mail is not.
    expect(await login('alice', 'smtp', '192.0.2.10')).toBe('NO authentication failed');
    expect(lastAuth()).toMatchObject({ result: 'failure', code: ErrorCodes.COMPROMISE_BLOCKED });
    expect(String(lastAuth()!.reason)).toContain('the password was right');
    expect(await login('alice', 'submission', '192.0.2.10')).toBe('NO authentication failed');
    expect(await login('alice', 'imap', '192.0.2.10')).toBe('OK');
    expect(await login('bob', 'smtp', '192.0.2.10')).toBe('OK');

    // The control socket is the daemon's user's alone.
    expect(statSync(path.join(dir, 'run', 'control')).mode & 0o777).toBe(0o600);
    const lifted = await runCli(['unblock', ...flags, 'alice']);
    expect(lifted.code, lifted.stderr).toBe(0);
    expect(lifted.stdout).toBe('alice: unblocked\n');
    expect(await login('alice', 'smtp', '192.0.2.10')).toBe('OK');
    const again = await runCli(['unblock', ...flags, 'alice']);
    expect(again.stdout).toBe('alice: not blocked\n');
    expect(daemon.records().some((record) => record.event === 'compromise' && record.action === 'unblock')).toBe(true);
    await daemon.stop();
  }, 30_000);

  it('says what is wrong when there is nothing to unblock or no daemon to ask', async () => {
    const dir = tempDir();
    const passwd = path.join(dir, 'passwd');
    writeFileSync(passwd, `alice:${DEMO_HASH}\n`);
    const off = await runCli(['unblock', '-a', 'passwd-file', '-O', passwd, '-m', path.join(dir, 'run'), 'alice']);
    expect(off.code).toBe(1);
    expect(off.stderr).toMatch(/--compromise-block is 0/);
    const absent = await runCli(['unblock', '-a', 'passwd-file', '-O', passwd, '-m', path.join(dir, 'run'), '--compromise-block', '60', 'alice']);
    expect(absent.code).toBe(1);
    expect(absent.stderr).toMatch(/cannot reach the daemon at .*control/);
  });
});
