/**
 * Postfix's other SASL path: smtpd_sasl_type = dovecot, with smtpd_sasl_path
 * on the daemon's --dovecot-socket, no libsasl2 or saslauthd socket involved.
 * A real Postfix smtpd, swaks AUTH PLAIN and LOGIN, and saslauthd-mysql -a
 * mysql on a real MariaDB: 235, 535, 454 while the database is down, the
 * client's IP in our log (Postfix sends it: the mux path never could), and the
 * row's own name as Postfix's SASL user. Needs root, postfix, swaks and the
 * SASL plugins; fails (never skips) without them.
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { eventually } from '../helpers/daemon.js';
import { vector } from '../helpers/vectors.js';
import { freePort, seedMailboxServer, ThrowawayServer } from '../helpers/mysql.js';
import { postfixSuiteProblems, startPostfix, swaksAuth, type PostfixInstance, type SmtpAuthResult } from '../helpers/postfix.js';
import { suiteTempDir } from '../helpers/temp.js';

let server: ThrowawayServer;
let daemon: DaemonProcess;
let postfix: PostfixInstance;
let port: number;
let dovecotSocket: string;
let cleanup: () => void;

const DOVEADM = '/usr/bin/doveadm';

beforeAll(async () => {
  const problems = postfixSuiteProblems();
  if (!existsSync(DOVEADM)) problems.push('doveadm is missing (apt-get install -y dovecot-core)');
  if (problems.length > 0) throw new Error(`the Postfix end-to-end suite cannot run: ${problems.join('; ')}`);
  server = await ThrowawayServer.create();
  await seedMailboxServer(
    server,
    [
      { username: 'alice@example.org', password: vector('libxcrypt', '$1$ md5crypt', 'secret') },
      { username: 'gone@example.org', password: vector('libxcrypt', '$1$ md5crypt', 'secret'), active: 0 },
    ],
    { user: 'database', password: 'password' },
  );
  const { dir, remove } = suiteTempDir();
  cleanup = remove;
  chmodSync(dir, 0o755);
  const conf = path.join(dir, 'mysql.conf');
  writeFileSync(conf, `hosts = 127.0.0.1:${server.port}\ndatabase = postfix\nuser = database\npassword = password\ntable = mailbox\nwhere = active = 1\nconnect_timeout = 1000\n`, { mode: 0o600 });
  const runDir = path.join(dir, 'run');
  dovecotSocket = path.join(runDir, 'auth');
  daemon = await spawnDaemon(['-a', 'mysql', '-O', conf, '-r', '-V', '-m', runDir, '--dovecot-socket', dovecotSocket, '--socket-group', 'postfix', '--socket-mode', '0660', '--shutdown-grace', '500'], { forSuite: true });
  port = await freePort();
  postfix = await startPostfix({
    dir: path.join(dir, 'postfix'),
    saslauthdPath: path.join(runDir, 'mux'),
    listeners: [{ port, overrides: { smtpd_sasl_type: 'dovecot', smtpd_sasl_path: dovecotSocket } }],
  });
}, 90_000);

afterAll(async () => {
  await postfix?.stop();
  await daemon?.stop();
  await server?.destroy();
  cleanup?.();
}, 60_000);

function expectCode(result: SmtpAuthResult, code: number): void {
  expect(result.code, `${result.transcript}\n--- postfix log ---\n${postfix.maillog().slice(-3000)}`).toBe(code);
}

describe('Postfix with smtpd_sasl_type = dovecot, on --dovecot-socket', () => {
  it('AUTH PLAIN and LOGIN: 235 with the right password, 535 with a wrong one or for an inactive mailbox', async () => {
    for (const mechanism of ['PLAIN', 'LOGIN'] as const) {
      expectCode(await swaksAuth({ port, mechanism, user: 'alice@example.org', password: 'secret' }), 235);
      expectCode(await swaksAuth({ port, mechanism, user: 'alice@example.org', password: 'Secret' }), 535);
    }
    expectCode(await swaksAuth({ port, mechanism: 'PLAIN', user: 'gone@example.org', password: 'secret' }), 535);
  }, 60_000);

  it("logs the client's IP, which Postfix sends with every request, and gives Postfix the row's own name as the SASL user", async () => {
    expectCode(await swaksAuth({ port, mechanism: 'PLAIN', user: 'ALICE@example.org', password: 'secret' }), 235);
    const success = daemon.records().filter((record) => record.event === 'auth' && record.result === 'success').at(-1);
    expect(success).toMatchObject({ user: 'alice@example.org', requested: 'ALICE@example.org', remote: '127.0.0.1', service: 'smtp' });
    // Postfix takes the OK's user= as the SASL user name: it logs it once a message is under way.
    const sent = await run('/usr/bin/swaks', ['--server', `127.0.0.1:${port}`, '--tls', '--auth', 'PLAIN', '--auth-user', 'ALICE@example.org', '--auth-password', 'secret', '--from', 'alice@example.org', '--to', 'someone@example.net', '--quit-after', 'RCPT', '--timeout', '20'], { timeoutMs: 60_000 });
    expect(sent.stdout + sent.stderr).toMatch(/^<~\s+250 /m);
    await eventually(() => /sasl_method=PLAIN, sasl_username=alice@example\.org\b/.test(postfix.maillog()), 10_000, 100);
  }, 60_000);

  it('answers 454 while the database is down (the connection is closed, not FAILed), and 235 once it is back', async () => {
    await server.stop();
    try {
      expectCode(await swaksAuth({ port, mechanism: 'PLAIN', user: 'alice@example.org', password: 'secret' }), 454);
    } finally {
      await server.start();
    }
    await eventually(async () => (await swaksAuth({ port, mechanism: 'PLAIN', user: 'alice@example.org', password: 'secret' })).code === 235, 20_000, 500);
  }, 90_000);
});

describe('doveadm auth test on --dovecot-socket', () => {
  it("succeeds with the right password, answering the row's own name for a differently-cased login, and fails with a wrong one", async () => {
    const right = await run(DOVEADM, ['auth', 'test', '-a', dovecotSocket, 'ALICE@example.org', 'secret']);
    expect(right.code, right.stdout + right.stderr).toBe(0);
    expect(right.stdout).toMatch(/auth succeeded/);
    expect(right.stdout).toMatch(/^\s*user=alice@example\.org$/m);
    const wrong = await run(DOVEADM, ['auth', 'test', '-a', dovecotSocket, 'alice@example.org', 'wrong']);
    expect(wrong.code).toBe(77);
    expect(wrong.stdout).toMatch(/auth failed/);
  });
});
