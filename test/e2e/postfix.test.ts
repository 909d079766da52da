/**
 * The deployment that matters, end to end: a real Postfix smtpd with
 * `pwcheck_method: saslauthd`, STARTTLS, AUTH PLAIN and LOGIN from swaks,
 * and saslauthd-mysql `-a pam -r` on the classic pam_mysql line against a
 * real MariaDB. Two smtpd listeners: one as shipped (no
 * smtpd_sasl_local_domain) and one with `smtpd_sasl_local_domain = example.org`.
 * Needs root, postfix, swaks and libsasl2-modules; fails (never skips) without them.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { eventually } from '../helpers/daemon.js';
import { vector } from '../helpers/vectors.js';
import { freePort, seedMailboxServer, ThrowawayServer } from '../helpers/mysql.js';
import { postfixSuiteProblems, startPostfix, swaksAuth, type PostfixInstance, type SmtpAuthResult } from '../helpers/postfix.js';
import { suiteTempDir } from '../helpers/temp.js';

let server: ThrowawayServer;
let daemon: DaemonProcess;
let postfix: PostfixInstance;
let plainPort: number;
let localDomainPort: number;
let cleanup: () => void;

const SECRET = 'secret';
const SHA512_PASSWORD = 'secret';

beforeAll(async () => {
  const problems = postfixSuiteProblems();
  if (problems.length > 0) throw new Error(`the Postfix end-to-end suite cannot run: ${problems.join('; ')}`);
  server = await ThrowawayServer.create();
  await seedMailboxServer(
    server,
    [
      { username: 'alice@example.org', password: vector('libxcrypt', '$1$ md5crypt', SECRET) },
      { username: 'bob@example.org', password: vector('libxcrypt', '$6$ sha512crypt', SHA512_PASSWORD) },
      { username: 'gone@example.org', password: vector('libxcrypt', '$1$ md5crypt', SECRET), active: 0 },
    ],
    { user: 'database', password: 'password' },
  );

  const { dir, remove } = suiteTempDir();
  cleanup = remove;
  // smtpd runs as the postfix user and must reach the socket (and its own config) below this directory.
  chmodSync(dir, 0o755);
  const pamDir = path.join(dir, 'pam.d');
  mkdirSync(pamDir);
  const line = `pam_mysql.so user=database passwd=password host=127.0.0.1:${server.port} db=postfix table=mailbox usercolumn=username passwdcolumn=password crypt=1 md5=1 where=active=1`;
  writeFileSync(path.join(pamDir, 'smtp'), `auth    required   ${line}\naccount sufficient ${line}\n`);
  const runDir = path.join(dir, 'run');
  // -V: the tests below read success lines, which are logged only when asked for (as saslauthd -V).
  // --socket-group postfix: the daemon makes its directory 0710 with that group, as Debian's saslauthd
  // directory is root:sasl 0710 with postfix in sasl; smtpd reaches the socket through its group.
  daemon = await spawnDaemon(['-a', 'pam', '-r', '-V', '-m', runDir, '--pam-dir', pamDir, '--shutdown-grace', '500', '--socket-group', 'postfix', '--socket-mode', '0660'], { forSuite: true });

  plainPort = await freePort();
  localDomainPort = await freePort();
  postfix = await startPostfix({
    dir: path.join(dir, 'postfix'),
    saslauthdPath: path.join(runDir, 'mux'),
    listeners: [{ port: plainPort }, { port: localDomainPort, overrides: { smtpd_sasl_local_domain: 'example.org' } }],
  });
}, 90_000);

afterAll(async () => {
  await postfix?.stop();
  await daemon?.stop();
  await server?.destroy();
  cleanup?.();
}, 60_000);

/** The code, with the whole SMTP transcript and Postfix's log when it is not the one expected. */
function expectCode(result: SmtpAuthResult, code: number): void {
  expect(result.code, `${result.transcript}\n--- postfix log ---\n${postfix.maillog().slice(-3000)}`).toBe(code);
}

const authRecords = (user: string) => daemon.records().filter((record) => record.user === user && typeof record.result === 'string');

describe('Postfix smtpd + swaks against saslauthd-mysql -a pam -r', () => {
  it('AUTH PLAIN and AUTH LOGIN with the right password: 235', async () => {
    for (const mechanism of ['PLAIN', 'LOGIN'] as const) {
      const result = await swaksAuth({ port: plainPort, mechanism, user: 'alice@example.org', password: SECRET });
      expectCode(result, 235);
      expect(result.transcript).toMatch(/TLS started/);
    }
    expectCode(await swaksAuth({ port: plainPort, mechanism: 'PLAIN', user: 'bob@example.org', password: SHA512_PASSWORD }), 235);
  }, 60_000);

  it('a wrong password: 535, with PLAIN and LOGIN', async () => {
    for (const mechanism of ['PLAIN', 'LOGIN'] as const) {
      const result = await swaksAuth({ port: plainPort, mechanism, user: 'alice@example.org', password: 'Secret' });
      expectCode(result, 535);
      expect(result.reply).toMatch(/^535 5\.7\.8 /);
    }
  }, 60_000);

  it('an inactive mailbox and an unknown one: 535', async () => {
    expectCode(await swaksAuth({ port: plainPort, mechanism: 'PLAIN', user: 'gone@example.org', password: SECRET }), 535);
    expectCode(await swaksAuth({ port: plainPort, mechanism: 'PLAIN', user: 'mallory@example.org', password: SECRET }), 535);
  }, 60_000);

  it('AUTH is offered only after STARTTLS (smtpd_tls_auth_only)', async () => {
    const result = await swaksAuth({ port: plainPort, mechanism: 'PLAIN', user: 'alice@example.org', password: SECRET, tls: false });
    expect(result.code).toBeUndefined();
    expect(result.transcript).toMatch(/did not advertise authentication/i);
  }, 60_000);

  it('a user@domain login reaches the lookup as user@domain: libsasl2 splits it, -r joins it again', async () => {
    const before = authRecords('alice@example.org').length;
    expectCode(await swaksAuth({ port: plainPort, mechanism: 'LOGIN', user: 'alice@example.org', password: SECRET }), 235);
    await eventually(() => authRecords('alice@example.org').length > before);
    expect(authRecords('alice@example.org').at(-1)).toMatchObject({ user: 'alice@example.org', realm: 'example.org', service: 'smtp', result: 'success' });
  }, 60_000);

  it('smtpd_sasl_local_domain fills in the realm of a realm-less login', async () => {
    // As shipped, a bare "alice" has no realm: the lookup is for "alice", which no mailbox has.
    expectCode(await swaksAuth({ port: plainPort, mechanism: 'PLAIN', user: 'alice', password: SECRET }), 535);
    await eventually(() => authRecords('alice').length > 0);
    expect(authRecords('alice').at(-1)).toMatchObject({ realm: '', result: 'failure' });
    // With smtpd_sasl_local_domain = example.org, the same login is alice@example.org.
    const before = authRecords('alice@example.org').length;
    expectCode(await swaksAuth({ port: localDomainPort, mechanism: 'PLAIN', user: 'alice', password: SECRET }), 235);
    await eventually(() => authRecords('alice@example.org').length > before);
    expect(authRecords('alice@example.org').at(-1)).toMatchObject({ realm: 'example.org', result: 'success' });
  }, 60_000);

  it('with the database stopped the answer is 454 (temporary), and 235 again once it is back', async () => {
    await server.stop();
    try {
      const during = await swaksAuth({ port: plainPort, mechanism: 'PLAIN', user: 'alice@example.org', password: SECRET });
      expectCode(during, 454);
      expect(during.reply).toMatch(/^454 4\.7\.0 Temporary authentication failure/);
      // A wrong password during the outage is not a 535 either: we cannot know it is wrong.
      expectCode(await swaksAuth({ port: plainPort, mechanism: 'LOGIN', user: 'alice@example.org', password: 'Secret' }), 454);
    } finally {
      await server.start();
    }
    await eventually(async () => (await swaksAuth({ port: plainPort, mechanism: 'PLAIN', user: 'alice@example.org', password: SECRET })).code === 235, 30_000, 500);
  }, 90_000);
});
