/**
 * The real PostfixAdmin 3.3 from Debian (the package unpacked, run by
 * php-cli): its own upgrade.php makes the schema, its own CLI adds the
 * domains and mailboxes with its default hashing (md5crypt on Debian), and
 * saslauthd-mysql with nothing but `preset = postfixadmin` and the four
 * connection keys decides as PostfixAdmin means: right, wrong, inactive
 * mailbox, inactive domain. Then re-hashing on login turns the md5crypt row
 * into SHA512-CRYPT that PostfixAdmin's own pacrypt() and libxcrypt both
 * accept. Fails (never skips) when PostfixAdmin or php is missing.
 */
import { spawnSync } from 'node:child_process';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { eventually, startConfiguredDaemon } from '../helpers/daemon.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { ThrowawayServer } from '../helpers/mysql.js';
import { postfixAdminProblems, setUpPostfixAdmin, type PostfixAdmin } from '../helpers/postfixadmin.js';
import { suiteTempDir, tempDir } from '../helpers/temp.js';
import { runCli } from '../helpers/cli.js';

const PASSWORD = 'Mailb0x!42';
let server: ThrowawayServer;
let root: mysql.Connection;
let admin: PostfixAdmin;
let cleanup: () => void;

/** The connection keys only, as an administrator would write them, plus the preset. */
const presetEnv = (extra: Record<string, string> = {}) => ({
  SASLAUTHD_MYSQL_DB_HOSTS: `127.0.0.1:${server.port}`,
  SASLAUTHD_MYSQL_DB_DATABASE: 'postfix',
  SASLAUTHD_MYSQL_DB_USER: 'mailreader',
  SASLAUTHD_MYSQL_DB_PASSWORD: 'reader-pw',
  SASLAUTHD_MYSQL_PRESET: 'postfixadmin',
  ...extra,
});

async function ask(socketPath: string, login: string, password: string) {
  return (await exchange(socketPath, requestFrame({ login, password, service: 'smtp', realm: '' }))).reply;
}

async function storedPassword(user: string): Promise<string> {
  const [rows] = await root.query('SELECT password FROM postfix.mailbox WHERE username = ?', [user]);
  return (rows as Array<{ password: string }>)[0]!.password;
}

beforeAll(async () => {
  expect(postfixAdminProblems()).toEqual([]);
  const temp = suiteTempDir();
  cleanup = temp.remove;
  server = await ThrowawayServer.create();
  root = await mysql.createConnection({ host: '127.0.0.1', port: server.port, user: 'root' });
  await root.query('CREATE DATABASE postfix');
  // PostfixAdmin's own account, the daemon's reader, and the re-hash writer, each with only what it needs.
  await root.query("CREATE USER 'postfixadmin'@'%' IDENTIFIED BY 'admin-pw'");
  await root.query("GRANT ALL ON postfix.* TO 'postfixadmin'@'%'");
  admin = await setUpPostfixAdmin(temp.dir, { host: '127.0.0.1', port: server.port, user: 'postfixadmin', password: 'admin-pw', database: 'postfix' });
  await root.query("CREATE USER 'mailreader'@'%' IDENTIFIED BY 'reader-pw'");
  await root.query("GRANT SELECT ON postfix.mailbox TO 'mailreader'@'%'");
  await root.query("GRANT SELECT ON postfix.domain TO 'mailreader'@'%'");
  await root.query("CREATE USER 'rehasher'@'%' IDENTIFIED BY 'writer-pw'");
  await root.query("GRANT SELECT (username, password), UPDATE (password) ON postfix.mailbox TO 'rehasher'@'%'");

  const domain = (name: string, active: number) => admin.cli(['domain', 'add', name, '--description', 'test', '--aliases', '10', '--mailboxes', '10', '--active', String(active)]);
  const mailbox = (address: string, active: number) => admin.cli(['mailbox', 'add', address, '--password', PASSWORD, '--password2', PASSWORD, '--name', address, '--active', String(active)]);
  await domain('example.org', 1);
  await domain('closed.example', 0);
  await mailbox('alice@example.org', 1);
  await mailbox('bob@example.org', 0);
  await mailbox('carol@closed.example', 1);
  await mailbox('dave@example.org', 1);
}, 180_000);

afterAll(async () => {
  await root?.end().catch(() => undefined);
  await server?.destroy();
  cleanup?.();
});

describe('PostfixAdmin 3.3 (Debian) made the tables and the mailboxes', () => {
  it('stored md5crypt, its default, and set a password expiry a year out', async () => {
    expect(await storedPassword('alice@example.org')).toMatch(/^\$1\$/);
    const [rows] = await root.query("SELECT password_expiry > NOW() AS later FROM postfix.mailbox WHERE username = 'alice@example.org'");
    expect((rows as Array<{ later: number }>)[0]!.later).toBe(1);
  });

  it('preset = postfixadmin decides as PostfixAdmin means: right, wrong, inactive mailbox, inactive domain', async () => {
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql' }, presetEnv());
    expect(await ask(socketPath, 'alice@example.org', PASSWORD)).toBe('OK');
    expect(await ask(socketPath, 'alice@example.org', 'Mailb0x!43')).toBe('NO authentication failed');
    expect(await ask(socketPath, 'bob@example.org', PASSWORD)).toBe('NO authentication failed');
    expect(await ask(socketPath, 'carol@closed.example', PASSWORD)).toBe('NO authentication failed');
    expect(await ask(socketPath, 'nobody@example.org', PASSWORD)).toBe('NO authentication failed');
    expect(sink.authEvents().map((event) => event.code)).toEqual([undefined, ErrorCodes.WRONG_PASSWORD, ErrorCodes.MAILBOX_INACTIVE, ErrorCodes.DOMAIN_INACTIVE, ErrorCodes.UNKNOWN_USER]);
    // 3.3 has password expiry and none of 4.x's columns: the start-up line says so.
    const line = sink.records().find((record) => String(record.msg).startsWith('postfixadmin preset:'))?.msg;
    expect(line).toBe(
      'postfixadmin preset: rules on: mailbox.active, domain.active, password expiry; off: smtp_active (no mailbox.smtp_active), app passwords (no mailbox_app_password table), TOTP (no mailbox.totp_secret)',
    );
  });

  it('saslauthd-mysql check shows which rules are on and finds the mailbox', async () => {
    const dir = tempDir();
    const result = await runCli(['check', '-a', 'mysql', '-m', dir, '--user', 'alice@example.org'], { env: { ...process.env, ...presetEnv() } });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('ok: postfixadmin preset: rules on: mailbox.active, domain.active, password expiry; off:');
    expect(result.stdout).toMatch(/ok: user alice@example\.org \(service smtp\): found in [\d.]+ ms; stored value is MD5-CRYPT/);
  });

  it('re-hashes md5crypt to SHA512-CRYPT on login; PostfixAdmin (php_crypt) and libxcrypt accept the new value', async () => {
    const before = await storedPassword('dave@example.org');
    const { socketPath, sink } = await startConfiguredDaemon(
      { mech: 'mysql' },
      presetEnv({ SASLAUTHD_MYSQL_DB_REHASH_TO: 'SHA512-CRYPT', SASLAUTHD_MYSQL_DB_REHASH_USER: 'rehasher', SASLAUTHD_MYSQL_DB_REHASH_PASSWORD: 'writer-pw' }),
    );
    expect(await ask(socketPath, 'dave@example.org', 'wrong-Passw0rd')).toBe('NO authentication failed');
    expect(await storedPassword('dave@example.org')).toBe(before);
    expect(await ask(socketPath, 'dave@example.org', PASSWORD)).toBe('OK');
    await eventually(async () => (await storedPassword('dave@example.org')).startsWith('$6$'));
    const after = await storedPassword('dave@example.org');
    // The line follows the UPDATE's reply from the server, which may come after the row is visible here.
    await eventually(() => sink.records().some((record) => record.msg === `re-hashed [user=dave@example.org] [from=MD5-CRYPT] [to=SHA512-CRYPT]`));
    // The next login verifies the new value.
    expect(await ask(socketPath, 'dave@example.org', PASSWORD)).toBe('OK');
    expect(await ask(socketPath, 'dave@example.org', 'wrong-Passw0rd')).toBe('NO authentication failed');
    // PostfixAdmin's own check: with php_crypt (crypt(3)) it accepts the value; with md5crypt, its Debian default, it cannot.
    expect(await admin.accepts('php_crypt:SHA512', PASSWORD, after)).toBe(true);
    expect(await admin.accepts('php_crypt:SHA512', 'wrong-Passw0rd', after)).toBe(false);
    expect(await admin.accepts('md5crypt', PASSWORD, after)).toBe(false);
    // libxcrypt, through perl's crypt(): what pam_mysql crypt=1 uses after a rollback.
    const perl = spawnSync('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', PASSWORD, after], { encoding: 'utf8' });
    expect(perl.stdout).toBe(after);
  });
});
