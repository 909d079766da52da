/**
 * Re-hashing on login (rehash_to) against a real server, on a table lookup
 * and on the preset: the new value is written after a success and read back
 * at the next login; a failure, an app password, a -c answer and a value
 * already as strong write nothing; a row changed meanwhile is not
 * overwritten; a writer without rights is logged and the login still
 * succeeds; libxcrypt (perl's crypt()) accepts what was written.
 */
import { spawnSync } from 'node:child_process';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startConfiguredDaemon } from '../helpers/daemon.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { SECRET_MD5CRYPT, ThrowawayServer } from '../helpers/mysql.js';
import { POSTFIXADMIN_4_SCHEMA } from '../helpers/postfixadmin.js';
import { vector } from '../helpers/vectors.js';
import type { DaemonFlags } from '../../src/config/daemon-config.js';

let server: ThrowawayServer;
let root: mysql.Connection;
let argon2: string;

beforeAll(async () => {
  argon2 = vector('doveadm', '{ARGON2ID}', 'secret');
  server = await ThrowawayServer.create();
  root = await mysql.createConnection({ host: '127.0.0.1', port: server.port, user: 'root' });
  await root.query('CREATE DATABASE postfix');
  await root.query('USE postfix');
  for (const statement of POSTFIXADMIN_4_SCHEMA) await root.query(statement);
  await root.query("INSERT INTO domain (domain, active) VALUES ('example.org', 1)");
  await root.query("CREATE USER 'mailreader'@'%' IDENTIFIED BY 'reader-pw'");
  await root.query("GRANT SELECT ON postfix.* TO 'mailreader'@'%'");
  await root.query("CREATE USER 'rehasher'@'%' IDENTIFIED BY 'writer-pw'");
  await root.query("GRANT SELECT (username, password), UPDATE (password) ON postfix.mailbox TO 'rehasher'@'%'");
  await root.query("CREATE USER 'readonly'@'%' IDENTIFIED BY 'readonly-pw'");
  await root.query("GRANT SELECT ON postfix.mailbox TO 'readonly'@'%'");
}, 120_000);

afterAll(async () => {
  await root?.end().catch(() => undefined);
  await server?.destroy();
});

/** A fresh mailbox with this stored value; returns its name. */
let serial = 0;
async function mailbox(stored: string): Promise<string> {
  serial += 1;
  const user = `user${serial}@example.org`;
  await root.query("INSERT INTO mailbox (username, password, local_part, domain, password_expiry) VALUES (?, ?, ?, 'example.org', NOW() + INTERVAL 1 YEAR)", [user, stored, `user${serial}`]);
  return user;
}

async function stored(user: string): Promise<string> {
  const [rows] = await root.query('SELECT password FROM mailbox WHERE username = ?', [user]);
  return (rows as Array<{ password: string }>)[0]!.password;
}

const WRITER = { SASLAUTHD_MYSQL_DB_REHASH_TO: 'SHA512-CRYPT', SASLAUTHD_MYSQL_DB_REHASH_USER: 'rehasher', SASLAUTHD_MYSQL_DB_REHASH_PASSWORD: 'writer-pw' };

async function daemon(extra: Record<string, string>, flags: Partial<DaemonFlags> = {}) {
  const started = await startConfiguredDaemon(
    { mech: 'mysql', metricsPort: '0', ...flags },
    {
      SASLAUTHD_MYSQL_DB_HOSTS: `127.0.0.1:${server.port}`,
      SASLAUTHD_MYSQL_DB_DATABASE: 'postfix',
      SASLAUTHD_MYSQL_DB_USER: 'mailreader',
      SASLAUTHD_MYSQL_DB_PASSWORD: 'reader-pw',
      SASLAUTHD_MYSQL_PRESET: 'postfixadmin',
      ...WRITER,
      ...extra,
    },
  );
  return {
    ...started,
    ask: async (login: string, password: string) => (await exchange(started.socketPath, requestFrame({ login, password, service: 'smtp', realm: '' }))).reply,
    rehashes: async () => {
      const text = await (await fetch(`http://127.0.0.1:${started.daemon.metricsPort}/metrics`)).text();
      return text.split('\n').filter((line) => line.startsWith('saslauthd_mysql_rehash_total{'));
    },
    logged: (pattern: RegExp) => started.sink.records().filter((record) => pattern.test(String(record.msg))),
  };
}

/** libxcrypt's verdict, through perl's crypt(): what pam_mysql crypt=1 would say after a rollback. */
function libxcryptAccepts(password: string, value: string): boolean {
  return spawnSync('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', password, value], { encoding: 'utf8' }).stdout === value;
}

describe('rehash_to = SHA512-CRYPT', () => {
  it('rewrites md5crypt after one login; the next login verifies the new value; libxcrypt accepts it', async () => {
    const user = await mailbox(SECRET_MD5CRYPT);
    const { ask, rehashes } = await daemon({});
    expect(await ask(user, 'secret')).toBe('OK');
    await eventually(async () => (await stored(user)).startsWith('$6$'));
    const value = await stored(user);
    expect(value).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    expect(libxcryptAccepts('secret', value)).toBe(true);
    expect(libxcryptAccepts('Secret', value)).toBe(false);
    expect(await ask(user, 'secret')).toBe('OK');
    expect(await ask(user, 'Secret')).toBe('NO authentication failed');
    expect(await rehashes()).toEqual(['saslauthd_mysql_rehash_total{from="MD5-CRYPT",to="SHA512-CRYPT",result="written"} 1']);
  });

  it('keeps the {SCHEME} prefix convention: a prefixed row stays prefixed', async () => {
    const user = await mailbox(`{MD5-CRYPT}${SECRET_MD5CRYPT}`);
    const { ask } = await daemon({});
    expect(await ask(user, 'secret')).toBe('OK');
    await eventually(async () => (await stored(user)).startsWith('{SHA512-CRYPT}$6$'));
    expect(libxcryptAccepts('secret', (await stored(user)).slice('{SHA512-CRYPT}'.length))).toBe(true);
    expect(await ask(user, 'secret')).toBe('OK');
  });

  it('a failed login changes nothing', async () => {
    const user = await mailbox(SECRET_MD5CRYPT);
    const { ask, rehashes } = await daemon({});
    expect(await ask(user, 'wrong')).toBe('NO authentication failed');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await stored(user)).toBe(SECRET_MD5CRYPT);
    expect(await rehashes()).toEqual([]);
  });

  it('raises the cost: sha-crypt below rehash_cost rounds is rewritten, a value as strong or stronger is left alone', async () => {
    const weak = await mailbox(vector('doveadm', '{SHA512-CRYPT} rounds=6000', 'secret').replace(/^\{SHA512-CRYPT\}/, ''));
    const strong = await mailbox(argon2);
    const { ask } = await daemon({ SASLAUTHD_MYSQL_DB_REHASH_COST: '7000' });
    expect(await ask(weak, 'secret')).toBe('OK');
    expect(await ask(strong, 'secret')).toBe('OK');
    await eventually(async () => (await stored(weak)).startsWith('$6$rounds=7000$'));
    expect(libxcryptAccepts('secret', await stored(weak))).toBe(true);
    expect(await stored(strong)).toBe(argon2);
  });

  it('never rewrites an app password, nor the main password when an app password was used', async () => {
    const user = await mailbox(SECRET_MD5CRYPT);
    // An md5crypt app password, made by libxcrypt: as weak as the main one, and still never rewritten.
    const appHash = spawnSync('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', 'app-secret', '$1$appsalt$'], { encoding: 'utf8' }).stdout;
    expect(appHash).toMatch(/^\$1\$appsalt\$/);
    await root.query("INSERT INTO mailbox_app_password (username, description, password_hash) VALUES (?, 'phone', ?)", [user, appHash]);
    const { ask, rehashes } = await daemon({});
    expect(await ask(user, 'app-secret')).toBe('OK');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await stored(user)).toBe(SECRET_MD5CRYPT);
    const [apps] = await root.query('SELECT password_hash FROM mailbox_app_password WHERE username = ?', [user]);
    expect((apps as Array<{ password_hash: string }>)[0]!.password_hash).toBe(appHash);
    expect(await rehashes()).toEqual([]);
  });

  it('does not overwrite a row changed between the lookup and the write', async () => {
    const user = await mailbox(SECRET_MD5CRYPT);
    // A costly target, so the new value takes a while to compute: long enough to change the row first.
    const { ask, rehashes, logged } = await daemon({ SASLAUTHD_MYSQL_DB_REHASH_COST: '900000' });
    expect(await ask(user, 'secret')).toBe('OK');
    await root.query('UPDATE mailbox SET password = ? WHERE username = ?', ['{PLAIN}changed-by-the-user', user]);
    await eventually(async () => (await rehashes()).length > 0, 20_000);
    expect(await rehashes()).toEqual(['saslauthd_mysql_rehash_total{from="MD5-CRYPT",to="SHA512-CRYPT",result="row-changed"} 1']);
    expect(await stored(user)).toBe('{PLAIN}changed-by-the-user');
    expect(logged(/the row changed since the login read it/)).toHaveLength(1);
  }, 30_000);

  it('a writer without rights is logged and tried again at the next login; the login succeeds', async () => {
    const user = await mailbox(SECRET_MD5CRYPT);
    const { ask, rehashes, sink } = await daemon({ SASLAUTHD_MYSQL_DB_REHASH_USER: 'readonly', SASLAUTHD_MYSQL_DB_REHASH_PASSWORD: 'readonly-pw' });
    expect(await ask(user, 'secret')).toBe('OK');
    await eventually(async () => (await rehashes()).length > 0);
    expect(await stored(user)).toBe(SECRET_MD5CRYPT);
    const warnings = sink.records().filter((record) => record.level === 40 && /^re-hash not written/.test(String(record.msg)));
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]!.msg)).toMatch(/UPDATE command denied.*the rehash_user account needs SELECT on the user and password columns, which the UPDATE's WHERE reads, and UPDATE on the password column: GRANT SELECT \(username, password\), UPDATE \(password\) ON mailbox; \S*postfixadmin\.md/);
    expect(JSON.stringify(sink.records())).not.toContain('"secret"');
    // The next login tries again (said once a minute at most as a warning; the repeats at debug).
    expect(await ask(user, 'secret')).toBe('OK');
    await eventually(async () => (await rehashes()).some((line) => line.endsWith(' 2')));
    expect(await rehashes()).toEqual(['saslauthd_mysql_rehash_total{from="MD5-CRYPT",to="SHA512-CRYPT",result="failed"} 2']);
    expect(sink.records().filter((record) => record.level === 20 && /^re-hash not written/.test(String(record.msg)))).toHaveLength(1);
  });

  it('never re-hashes from a -c answer', async () => {
    const user = await mailbox(SECRET_MD5CRYPT);
    const { ask, rehashes, sink } = await daemon({ SASLAUTHD_MYSQL_DB_REHASH_USER: 'readonly', SASLAUTHD_MYSQL_DB_REHASH_PASSWORD: 'readonly-pw' }, { cache: true });
    expect(await ask(user, 'secret')).toBe('OK');
    await eventually(async () => (await rehashes()).length > 0);
    expect(await ask(user, 'secret')).toBe('OK');
    expect(sink.authEvents().at(-1)?.cache).toBe('credential');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await rehashes()).toEqual(['saslauthd_mysql_rehash_total{from="MD5-CRYPT",to="SHA512-CRYPT",result="failed"} 1']);
  });

  it('on a table lookup too, with the UPDATE made from its table and columns', async () => {
    const user = await mailbox(SECRET_MD5CRYPT);
    const { ask } = await daemon({ SASLAUTHD_MYSQL_PRESET: '', SASLAUTHD_MYSQL_DB_TABLE: 'mailbox', SASLAUTHD_MYSQL_DB_WHERE: 'active = 1' });
    expect(await ask(user, 'secret')).toBe('OK');
    await eventually(async () => (await stored(user)).startsWith('$6$'));
    expect(await ask(user, 'secret')).toBe('OK');
  });
});
