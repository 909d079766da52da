/**
 * Side by side with the chain we replace: the real Cyrus saslauthd -a pam -r
 * with the real pam_mysql (Debian sasl2-bin, libpam-mysql), and
 * saslauthd-mysql -a pam -r reading the same PAM line, against the same
 * database. testsaslauthd must print the same for every login. The one
 * intended difference, a database outage, is asserted as such.
 *
 * saslauthd -a pam reads only /etc/pam.d, so this suite writes a uniquely
 * named service file there (and removes it): it needs root, as CI has.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTestsaslauthd, run, spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { seedMailboxServer, ThrowawayServer } from '../helpers/mysql.js';
import { suiteTempDir } from '../helpers/temp.js';
import { vector } from '../helpers/vectors.js';
import { waitForSocket } from '../../bench/wait-for-socket.js';

const SERVICE = `sm-ref-${randomBytes(4).toString('hex')}`;
const PAM_FILE = path.join('/etc/pam.d', SERVICE);
const PAM_MYSQL = ['/lib/x86_64-linux-gnu/security/pam_mysql.so', '/usr/lib/x86_64-linux-gnu/security/pam_mysql.so', '/lib/security/pam_mysql.so'];

/** crypt(3) formats both can read (pam_mysql crypt=1 hands the value to libxcrypt), all for password "secret". */
const MD5 = vector('libxcrypt', '$1$ md5crypt', 'secret');
const MAILBOXES: Array<[string, string, number]> = [
  ['md5@example.org', MD5, 1],
  ['sha512@example.org', vector('libxcrypt', '$6$ sha512crypt', 'secret'), 1],
  ['sha256@example.org', vector('libxcrypt', '$5$ rounds=12345', 'secret'), 1],
  ['bcrypt@example.org', vector('htpasswd', '$2y$ bcrypt', 'secret'), 1],
  ['des@example.org', vector('libxcrypt', 'DES (13 characters)', 'secret'), 1],
  ["o'brien@example.org", MD5, 1],
  ['inactive@example.org', MD5, 0],
];

let server: ThrowawayServer;
let ours: DaemonProcess;
let theirs: ChildProcess;
let ourSocket: string;
let theirSocket: string;
let testsaslauthd: string;
let cleanup: () => void;

function requireReferenceChain(): void {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('it must run as root (saslauthd -a pam reads only /etc/pam.d)');
  if (!existsSync('/usr/sbin/saslauthd')) problems.push('saslauthd is missing (apt-get install -y sasl2-bin)');
  if (!PAM_MYSQL.some((file) => existsSync(file))) problems.push('pam_mysql.so is missing (apt-get install -y libpam-mysql)');
  if (problems.length > 0) throw new Error(`the reference comparison cannot run: ${problems.join('; ')}. .ci/run sets all of this up.`);
}


beforeAll(async () => {
  requireReferenceChain();
  testsaslauthd = findTestsaslauthd();
  server = await ThrowawayServer.create();
  await seedMailboxServer(server, MAILBOXES.map(([username, password, active]) => ({ username, password, active })), { user: 'database', password: 'password' });

  // The classic pam_mysql line (README.md), with PostfixAdmin's active flag, pointed at our server.
  const line = `pam_mysql.so user=database passwd=password host=127.0.0.1:${server.port} db=postfix table=mailbox usercolumn=username passwdcolumn=password crypt=1 md5=1 where=active=1`;
  writeFileSync(PAM_FILE, `auth    required   ${line}\naccount sufficient ${line}\n`);

  const { dir, remove } = suiteTempDir();
  cleanup = remove;
  const theirDir = path.join(dir, 'ref');
  mkdirSync(theirDir);
  theirSocket = path.join(theirDir, 'mux');
  // -d: stay in the foreground; its own process group, so the workers stop with it.
  theirs = spawn('/usr/sbin/saslauthd', ['-a', 'pam', '-r', '-m', theirDir, '-n', '2', '-d'], { detached: true, stdio: 'ignore' });
  await waitForSocket(theirSocket, undefined, 10_000);

  ours = await spawnDaemon(['-a', 'pam', '-r', '-m', path.join(dir, 'run')], { forSuite: true });
  ourSocket = path.join(dir, 'run', 'mux');
}, 60_000);

afterAll(async () => {
  if (theirs?.pid) {
    try {
      process.kill(-theirs.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  await ours?.stop();
  await server?.destroy();
  rmSync(PAM_FILE, { force: true });
  cleanup?.();
});

const ask = (socket: string, user: string, password: string) => run(testsaslauthd, ['-f', socket, '-s', SERVICE, '-u', user, '-r', 'example.org', '-p', password]);

describe('saslauthd-mysql -a pam -r answers as saslauthd -a pam -r + pam_mysql', () => {
  const logins: Array<[string, string]> = [
    ...MAILBOXES.map(([username]) => [username.split('@')[0]!, 'secret'] as [string, string]),
    ...MAILBOXES.map(([username]) => [username.split('@')[0]!, 'wrong'] as [string, string]),
    ['nobody', 'secret'],
  ];

  for (const [user, password] of logins) {
    it(`${user} / ${password}`, async () => {
      const [reference, candidate] = await Promise.all([ask(theirSocket, user, password), ask(ourSocket, user, password)]);
      expect(reference.stdout).toMatch(/^0: (OK|NO) /);
      expect({ stdout: candidate.stdout, code: candidate.code }).toEqual({ stdout: reference.stdout, code: reference.code });
    });
  }

  it('is a real comparison: the reference accepts every active mailbox and refuses the inactive one', async () => {
    for (const [username, , active] of MAILBOXES) {
      const user = username.split('@')[0]!;
      const [reference, candidate] = await Promise.all([ask(theirSocket, user, 'secret'), ask(ourSocket, user, 'secret')]);
      expect(reference.code, `saslauthd + pam_mysql, ${user}`).toBe(active ? 0 : 255);
      expect(candidate.code, `saslauthd-mysql, ${user}`).toBe(active ? 0 : 255);
    }
  });

  it('differs on purpose when the database is down: saslauthd says NO (a "wrong password"), we say nothing (try again)', async () => {
    await server.stop();
    try {
      const [reference, candidate] = await Promise.all([ask(theirSocket, 'md5', 'secret'), ask(ourSocket, 'md5', 'secret')]);
      expect(reference.stdout).toBe('0: NO "authentication failed"\n');
      expect(candidate).toMatchObject({ stdout: '0: ', stderr: 'size read failed\n', code: 255 });
    } finally {
      await server.start();
    }
  }, 30_000);
});
