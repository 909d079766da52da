/**
 * preset = postfixadmin on PostfixAdmin 4.x's tables (built as its
 * upgrade.php builds them): every rule, right and wrong, through the socket,
 * with the client's address in the request's fifth field for TOTP.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { spawnDaemon } from '../helpers/cli.js';
import { eventually, startConfiguredDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/temp.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { dovecotPlainLogin } from '../helpers/dovecot-client.js';
import { ThrowawayServer } from '../helpers/mysql.js';
import { POSTFIXADMIN_4_SCHEMA } from '../helpers/postfixadmin.js';
import { vector } from '../helpers/vectors.js';

// Stored values made by independent implementations (test/vectors): "secret" in md5crypt, SHA512-CRYPT and bcrypt.
const MD5CRYPT = '$1$8salt.8$Qn8gJEMYSrbUElnVsJXCQ1';
let sha512: string;
let server: ThrowawayServer;
let root: mysql.Connection;

/** App passwords' values: "secret" with a suffix, as {PLAIN} (their scheme does not matter to the rules). */
const app = (name: string) => `{PLAIN}app-${name}`;

beforeAll(async () => {
  sha512 = vector('doveadm', '{SHA512-CRYPT} rounds=6000', 'secret');
  server = await ThrowawayServer.create();
  root = await mysql.createConnection({ host: '127.0.0.1', port: server.port, user: 'root' });
  await root.query('CREATE DATABASE postfix');
  await root.query('USE postfix');
  for (const statement of POSTFIXADMIN_4_SCHEMA) await root.query(statement);
  await root.query("CREATE USER 'mailreader'@'%' IDENTIFIED BY 'reader-pw'");
  for (const table of ['mailbox', 'domain', 'mailbox_app_password', 'totp_exception_address']) await root.query(`GRANT SELECT ON postfix.${table} TO 'mailreader'@'%'`);
  await root.query(
    "INSERT INTO domain (domain, active, password_expiry) VALUES ('example.org', 1, 0), ('closed.example', 0, 0), ('expiring.example', 1, 90), ('totp.example', 1, 0)",
  );
  const future = "NOW() + INTERVAL 1 YEAR";
  const past = "NOW() - INTERVAL 1 DAY";
  const rows: Array<[string, string, string, number, number, string, string | null]> = [
    // username, password, domain, active, smtp_active, password_expiry, totp_secret
    ['alice@example.org', MD5CRYPT, 'example.org', 1, 1, future, null],
    ['inactive@example.org', MD5CRYPT, 'example.org', 0, 1, future, null],
    ['closed@closed.example', MD5CRYPT, 'closed.example', 1, 1, future, null],
    ['nosend@example.org', MD5CRYPT, 'example.org', 1, 0, future, null],
    ['expired@expiring.example', MD5CRYPT, 'expiring.example', 1, 1, past, null],
    ['fresh@expiring.example', MD5CRYPT, 'expiring.example', 1, 1, future, null],
    ['stale@example.org', MD5CRYPT, 'example.org', 1, 1, past, null],
    ['apps@example.org', sha512, 'example.org', 1, 1, future, null],
    ['many@example.org', MD5CRYPT, 'example.org', 1, 1, future, null],
    ['totp@example.org', MD5CRYPT, 'example.org', 1, 1, future, 'JBSWY3DPEHPK3PXP'],
    ['domainwide@totp.example', MD5CRYPT, 'totp.example', 1, 1, future, 'JBSWY3DPEHPK3PXP'],
    ['everywhere@example.org', MD5CRYPT, 'example.org', 1, 1, future, 'JBSWY3DPEHPK3PXP'],
  ];
  for (const [username, password, domain, active, smtpActive, expiry, totp] of rows) {
    await root.query(`INSERT INTO mailbox (username, password, local_part, domain, active, smtp_active, password_expiry, totp_secret) VALUES (?, ?, ?, ?, ?, ?, ${expiry}, ?)`, [
      username, password, username.split('@')[0], domain, active, smtpActive, totp,
    ]);
  }
  const apps: Array<[string, string]> = [
    ['apps@example.org', app('phone')],
    ['apps@example.org', app('laptop')],
    ['expired@expiring.example', app('phone')],
    ['totp@example.org', app('phone')],
    ['many@example.org', app('1')],
    ['many@example.org', app('2')],
    ['many@example.org', app('3')],
    ['inactive@example.org', app('phone')],
  ];
  for (const [username, hash] of apps) await root.query("INSERT INTO mailbox_app_password (username, description, password_hash) VALUES (?, 'device', ?)", [username, hash]);
  await root.query(
    "INSERT INTO totp_exception_address (ip, username, description) VALUES ('192.0.2.10', 'totp@example.org', 'office'), ('2001:db8::10', 'totp@example.org', 'office v6'), ('198.51.100.7', 'totp.example', 'whole domain'), ('203.0.113.99', NULL, 'everyone'), ('192.0.2.66', 'alice@example.org', 'someone else')",
  );
}, 120_000);

afterAll(async () => {
  await root?.end().catch(() => undefined);
  await server?.destroy();
});

const env = (extra: Record<string, string> = {}) => ({
  SASLAUTHD_MYSQL_DB_HOSTS: `127.0.0.1:${server.port}`,
  SASLAUTHD_MYSQL_DB_DATABASE: 'postfix',
  SASLAUTHD_MYSQL_DB_USER: 'mailreader',
  SASLAUTHD_MYSQL_DB_PASSWORD: 'reader-pw',
  SASLAUTHD_MYSQL_PRESET: 'postfixadmin',
  ...extra,
});

async function daemon(extra: Record<string, string> = {}) {
  const started = await startConfiguredDaemon({ mech: 'mysql' }, env(extra));
  return {
    ...started,
    /** The answer, or "no answer" when the daemon closed without one (a temporary failure: Postfix 454). */
    ask: async (login: string, password: string, options: { service?: string; from?: string } = {}) => {
      const frame = requestFrame({ login, password, service: options.service ?? 'smtp', realm: '', ...(options.from === undefined ? {} : { clientAddress: options.from }) });
      return (await exchange(started.socketPath, frame)).reply ?? 'no answer';
    },
    lastCode: () => started.sink.authEvents().at(-1)?.code,
  };
}

const OK = 'OK';
const NO = 'NO authentication failed';

describe('preset = postfixadmin on 4.x tables', () => {
  it('says at start-up that every rule is on', async () => {
    const { sink, ask } = await daemon();
    expect(await ask('alice@example.org', 'secret')).toBe(OK);
    expect(sink.records().find((record) => String(record.msg).startsWith('postfixadmin preset:'))?.msg).toBe(
      'postfixadmin preset: rules on: mailbox.active, domain.active, smtp_active (for smtp), password expiry, app passwords, TOTP with exception addresses',
    );
  });

  it('the main password, right and wrong', async () => {
    const { ask, lastCode } = await daemon();
    expect(await ask('alice@example.org', 'secret')).toBe(OK);
    expect(await ask('alice@example.org', 'Secret')).toBe(NO);
    expect(lastCode()).toBe(ErrorCodes.WRONG_PASSWORD);
    expect(await ask('ALICE@example.org', 'secret')).toBe(OK);
  });

  it('mailbox.active = 0 and domain.active = 0 refuse even the right password (and app passwords)', async () => {
    const { ask, lastCode } = await daemon();
    expect(await ask('inactive@example.org', 'secret')).toBe(NO);
    expect(lastCode()).toBe(ErrorCodes.MAILBOX_INACTIVE);
    expect(await ask('inactive@example.org', 'app-phone')).toBe(NO);
    expect(lastCode()).toBe(ErrorCodes.MAILBOX_INACTIVE);
    expect(await ask('closed@closed.example', 'secret')).toBe(NO);
    expect(lastCode()).toBe(ErrorCodes.DOMAIN_INACTIVE);
  });

  it('smtp_active = 0 refuses SMTP (and the services in smtp_services) but not IMAP', async () => {
    const { ask, lastCode } = await daemon({ SASLAUTHD_MYSQL_DB_SMTP_SERVICES: 'smtp, submission' });
    expect(await ask('nosend@example.org', 'secret')).toBe(NO);
    expect(lastCode()).toBe(ErrorCodes.SMTP_DISABLED);
    expect(await ask('nosend@example.org', 'secret', { service: 'submission' })).toBe(NO);
    expect(await ask('nosend@example.org', 'secret', { service: 'imap' })).toBe(OK);
    expect(await ask('nosend@example.org', 'wrong', { service: 'imap' })).toBe(NO);
    expect(await ask('alice@example.org', 'secret', { service: 'submission' })).toBe(OK);
  });

  it('an expired password is refused when the domain sets expiry; its app passwords still work', async () => {
    const { ask, lastCode } = await daemon();
    expect(await ask('expired@expiring.example', 'secret')).toBe(NO);
    expect(lastCode()).toBe(ErrorCodes.PASSWORD_EXPIRED);
    expect(await ask('expired@expiring.example', 'wrong')).toBe(NO);
    expect(lastCode()).toBe(ErrorCodes.WRONG_PASSWORD);
    expect(await ask('expired@expiring.example', 'app-phone')).toBe(OK);
    expect(await ask('fresh@expiring.example', 'secret')).toBe(OK);
    // A past date in a domain with password_expiry = 0: PostfixAdmin does not expire it.
    expect(await ask('stale@example.org', 'secret')).toBe(OK);
  });

  it('app passwords are valid alongside the main password; a revoked one stops at once', async () => {
    const { ask, lastCode, sink } = await daemon();
    expect(await ask('apps@example.org', 'secret')).toBe(OK);
    expect(await ask('apps@example.org', 'app-phone')).toBe(OK);
    expect(await ask('apps@example.org', 'app-laptop')).toBe(OK);
    expect(await ask('apps@example.org', 'app-tablet')).toBe(NO);
    expect(lastCode()).toBe(ErrorCodes.WRONG_PASSWORD);
    // The never-stale cache knows the set: a repeat is answered without hashing ...
    expect(await ask('apps@example.org', 'app-phone')).toBe(OK);
    expect(sink.authEvents().at(-1)?.cache).toBe('verified');
    // ... and a revoked app password is another set: refused at the next login.
    await root.query("DELETE FROM postfix.mailbox_app_password WHERE username = 'apps@example.org' AND password_hash = ?", [app('phone')]);
    expect(await ask('apps@example.org', 'app-phone')).toBe(NO);
    expect(await ask('apps@example.org', 'app-laptop')).toBe(OK);
    await root.query("INSERT INTO postfix.mailbox_app_password (username, description, password_hash) VALUES ('apps@example.org', 'device', ?)", [app('phone')]);
  });

  it('TOTP: the main password only from an exception address (the mailbox, its domain, or everyone); app passwords from anywhere', async () => {
    const { ask, lastCode } = await daemon();
    expect(await ask('totp@example.org', 'secret', { from: '192.0.2.10' })).toBe(OK);
    expect(await ask('totp@example.org', 'secret', { from: '192.0.2.10;40123' })).toBe(OK);
    expect(await ask('totp@example.org', 'secret', { from: '::ffff:192.0.2.10' })).toBe(OK);
    expect(await ask('totp@example.org', 'secret', { from: '2001:db8::10' })).toBe(OK);
    expect(await ask('totp@example.org', 'wrong', { from: '192.0.2.10' })).toBe(NO);
    expect(lastCode()).toBe(ErrorCodes.WRONG_PASSWORD);
    expect(await ask('totp@example.org', 'secret', { from: '192.0.2.11' })).toBe(NO);
    expect(lastCode()).toBe(ErrorCodes.TOTP_REQUIRED);
    // Another mailbox's exception is not this one's.
    expect(await ask('totp@example.org', 'secret', { from: '192.0.2.66' })).toBe(NO);
    expect(await ask('totp@example.org', 'secret')).toBe(NO);
    expect(lastCode()).toBe(ErrorCodes.TOTP_REQUIRED);
    expect(await ask('totp@example.org', 'app-phone', { from: '192.0.2.11' })).toBe(OK);
    expect(await ask('totp@example.org', 'app-phone')).toBe(OK);
    expect(await ask('domainwide@totp.example', 'secret', { from: '198.51.100.7' })).toBe(OK);
    expect(await ask('domainwide@totp.example', 'secret', { from: '198.51.100.8' })).toBe(NO);
    expect(await ask('everywhere@example.org', 'secret', { from: '203.0.113.99' })).toBe(OK);
    expect(await ask('everywhere@example.org', 'secret', { from: '203.0.113.98' })).toBe(NO);
    // A mailbox without TOTP does not care where the client is.
    expect(await ask('alice@example.org', 'secret', { from: '192.0.2.11' })).toBe(OK);
  });

  it('TOTP through the Dovecot listener: the address is its rip=', async () => {
    const dovecotSocket = path.join(tempDir(), 'auth');
    const started = await startConfiguredDaemon({ mech: 'mysql', dovecotSocket }, env());
    const login = (password: string, rip: string) => dovecotPlainLogin({ path: dovecotSocket }, 'totp@example.org', password, `\trip=${rip}`);
    expect(await login('secret', '192.0.2.10')).toMatch(/\nOK\t1\tuser=totp@example.org/);
    expect(await login('secret', '192.0.2.11')).toMatch(/\nFAIL\t1\t/);
    expect(started.sink.authEvents().at(-1)?.code).toBe(ErrorCodes.TOTP_REQUIRED);
    expect(await login('app-phone', '192.0.2.11')).toMatch(/\nOK\t1\t/);
  });

  it('more values than max_candidates is a configuration problem: no answer, never a "no"', async () => {
    const { ask, lastCode } = await daemon({ SASLAUTHD_MYSQL_DB_MAX_CANDIDATES: '3' });
    expect(await ask('many@example.org', 'secret')).toBe('no answer');
    expect(lastCode()).toBe(ErrorCodes.TOO_MANY_CANDIDATES);
    expect(await ask('apps@example.org', 'secret')).toBe(OK);
  });

  it('an unknown mailbox is unknown, with app passwords or not', async () => {
    const { ask, lastCode } = await daemon();
    expect(await ask('nobody@example.org', 'secret')).toBe(NO);
    expect(lastCode()).toBe(ErrorCodes.UNKNOWN_USER);
  });
});

describe('preset = postfixadmin where the reader cannot see the tables', () => {
  it('is a configuration problem, said at start-up and per login: no answer, never a "no"', async () => {
    await root.query("CREATE USER IF NOT EXISTS 'blind'@'%' IDENTIFIED BY 'blind-pw'");
    await root.query("GRANT SELECT ON postfix.domain TO 'blind'@'%'");
    const { ask, lastCode, sink } = await daemon({ SASLAUTHD_MYSQL_DB_USER: 'blind', SASLAUTHD_MYSQL_DB_PASSWORD: 'blind-pw' });
    expect(await ask('alice@example.org', 'secret')).toBe('no answer');
    expect(lastCode()).toBe(ErrorCodes.PRESET_SCHEMA);
    expect(sink.records().some((record) => record.level === 50 && String(record.msg).includes('mailbox.username, mailbox.password, mailbox.active, mailbox.domain'))).toBe(true);
  });
});

describe('preset = postfixadmin across a schema upgrade', () => {
  it('reads the columns again on SIGHUP: a rule turns on once its column exists', async () => {
    // PostfixAdmin 3.3's shape: no smtp_active yet.
    await root.query('CREATE DATABASE upgrading');
    await root.query('CREATE TABLE upgrading.domain LIKE postfix.domain');
    await root.query('CREATE TABLE upgrading.mailbox LIKE postfix.mailbox');
    await root.query('ALTER TABLE upgrading.mailbox DROP COLUMN smtp_active');
    await root.query("INSERT INTO upgrading.domain (domain, active) VALUES ('example.org', 1)");
    await root.query("INSERT INTO upgrading.mailbox (username, password, domain) VALUES ('carl@example.org', ?, 'example.org')", [MD5CRYPT]);
    await root.query("GRANT SELECT ON upgrading.* TO 'mailreader'@'%'");
    const dir = tempDir();
    const conf = path.join(dir, 'mysql.conf');
    writeFileSync(conf, `hosts = 127.0.0.1:${server.port}\ndatabase = upgrading\nuser = mailreader\npassword = reader-pw\npreset = postfixadmin\n`, { mode: 0o600 });
    const daemon = await spawnDaemon(['-a', 'mysql', '-O', conf, '-m', path.join(dir, 'run')]);
    const socketPath = path.join(dir, 'run', 'mux');
    const ask = async () => (await exchange(socketPath, requestFrame({ login: 'carl@example.org', password: 'secret', service: 'smtp', realm: '' }))).reply;
    const rules = () => daemon.records().filter((record) => String(record.msg).startsWith('postfixadmin preset:')).map((record) => String(record.msg));
    await eventually(() => rules().length === 1);
    expect(rules()[0]).toContain('off: smtp_active (no mailbox.smtp_active)');
    expect(await ask()).toBe(OK);

    // PostfixAdmin 4.x's upgrade adds the column; the administrator turns sending off for carl.
    await root.query('ALTER TABLE upgrading.mailbox ADD COLUMN smtp_active TINYINT(1) NOT NULL DEFAULT 1');
    await root.query("UPDATE upgrading.mailbox SET smtp_active = 0 WHERE username = 'carl@example.org'");
    daemon.child.kill('SIGHUP');
    await daemon.waitForOutput('SIGHUP: configuration reloaded');
    await eventually(() => rules().length === 2);
    expect(rules()[1]).toContain('smtp_active (for smtp)');
    expect(await ask()).toBe(NO);
    expect(daemon.records().filter((record) => record.event === 'auth').at(-1)?.code).toBe(ErrorCodes.SMTP_DISABLED);
    await daemon.stop();
  }, 30_000);
});
