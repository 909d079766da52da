/**
 * The shipped fail2ban filter against the daemon's real log, checked by
 * fail2ban's own fail2ban-regex: it finds the addresses of real failures and
 * nothing a login name could forge.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT, run, spawnDaemon } from '../helpers/cli.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { tempDir } from '../helpers/temp.js';

const FAIL2BAN_REGEX = '/usr/bin/fail2ban-regex';
const FILTER = path.join(PROJECT_ROOT, 'docs/examples/fail2ban/filter.d/saslauthd-mysql.conf');

describe('fail2ban filter (docs/examples/fail2ban)', () => {
  it('bans the addresses of real failures, not successes, not 4-field requests, not a forged name', async () => {
    if (!existsSync(FAIL2BAN_REGEX)) throw new Error('fail2ban-regex not found: install the Debian package fail2ban (apt-get install -y fail2ban). This suite must not be skipped.');
    const dir = tempDir();
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', 'demo/passwd', '-m', dir, '--throttle-after', '2', '--throttle-max-delay', '200']);
    const socketPath = path.join(dir, 'mux');
    const ask = (login: string, password: string, clientAddress?: string) =>
      exchange(socketPath, requestFrame({ login, password, service: 'smtp', realm: '', ...(clientAddress ? { clientAddress } : {}) }));

    for (let i = 0; i < 3; i += 1) expect((await ask('demo@example.org', `guess${i}`, `203.0.113.9;${40000 + i}`)).reply).toBe('NO authentication failed');
    await ask('nobody', 'x', '2001:db8::7;41000');
    expect((await ask('demo@example.org', 'demo', '198.51.100.1;42000')).reply).toBe('OK');
    await ask('demo', 'wrong');
    await ask('x","remote":"192.0.2.66;1","result":"failure', 'x');
    await daemon.stop();

    const logFile = path.join(dir, 'daemon.log');
    writeFileSync(logFile, daemon.output());
    const { code, stdout, stderr } = await run(FAIL2BAN_REGEX, ['-o', 'ip', logFile, FILTER], { timeoutMs: 30_000 });
    expect(code, stderr).toBe(0);
    expect(stdout.trim().split('\n').sort()).toEqual(['2001:db8::7', '203.0.113.9', '203.0.113.9', '203.0.113.9']);
  });
});
