/**
 * The migration case end to end: saslauthd-mysql started as a process with
 * saslauthd's own flags (-a pam -r -m DIR), a PAM service file with the
 * classic pam_mysql line, a real MariaDB, and the real testsaslauthd.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTestsaslauthd, run, spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { eventually } from '../helpers/daemon.js';
import { seedMailboxServer, ThrowawayServer } from '../helpers/mysql.js';
import { vector } from '../helpers/vectors.js';
import { suiteTempDir } from '../helpers/temp.js';

let server: ThrowawayServer;
let daemon: DaemonProcess;
let socketPath: string;
let testsaslauthd: string;
let cleanup: () => void;

beforeAll(async () => {
  testsaslauthd = findTestsaslauthd();
  server = await ThrowawayServer.create();
  // md5crypt, as the 2006 guide's PostfixAdmin stored it ("secret", libxcrypt), and an inactive mailbox.
  const md5 = vector('libxcrypt', '$1$ md5crypt', 'secret');
  await seedMailboxServer(server, [{ username: 'alice@example.org', password: md5 }, { username: 'gone@example.org', password: md5, active: 0 }], { user: 'database', password: 'password' });

  const { dir, remove } = suiteTempDir();
  cleanup = remove;
  const pamDir = path.join(dir, 'pam.d');
  mkdirSync(pamDir);
  const line = `pam_mysql.so user=database passwd=password host=127.0.0.1:${server.port} db=postfix table=mailbox usercolumn=username passwdcolumn=password crypt=1 md5=1 where=active=1`;
  writeFileSync(path.join(pamDir, 'smtp'), `auth    required   ${line}\naccount sufficient ${line}\n`);
  daemon = await spawnDaemon(['-a', 'pam', '-r', '-m', path.join(dir, 'run'), '--pam-dir', pamDir, '--shutdown-grace', '500'], { forSuite: true });
  socketPath = path.join(dir, 'run', 'mux');
}, 60_000);

afterAll(async () => {
  await daemon?.stop();
  await server?.destroy();
  cleanup?.();
});

const probe = (user: string, password: string) => run(testsaslauthd, ['-f', socketPath, '-s', 'smtp', '-u', user, '-r', 'example.org', '-p', password]);

describe('testsaslauthd -s smtp against saslauthd-mysql -a pam -r', () => {
  it('OK for the right password', async () => {
    expect(await probe('alice', 'secret')).toMatchObject({ code: 0, stdout: '0: OK "Success."\n' });
  });

  it('NO for a wrong password, an unknown user and an inactive mailbox', async () => {
    for (const [user, password] of [['alice', 'Secret'], ['mallory', 'secret'], ['gone', 'secret']] as const) {
      expect(await probe(user, password), user).toMatchObject({ code: 255, stdout: '0: NO "authentication failed"\n' });
    }
  });

  it('a stopped database is a temporary failure (no answer), and heals by itself', async () => {
    await server.stop();
    const during = await probe('alice', 'secret');
    // No reply at all: testsaslauthd prints its "size read failed"; Postfix would answer 454 4.7.0.
    expect(during).toMatchObject({ code: 255, stdout: '0: ', stderr: 'size read failed\n' });
    expect(daemon.records().some((r) => r.result === 'temporary-failure' && r.user === 'alice@example.org')).toBe(true);
    await server.start();
    await eventually(async () => (await probe('alice', 'secret')).code === 0, 15_000, 200);
  }, 40_000);
});
