/**
 * -a pam against a real server: the request's service picks a PAM service
 * file whose pam_mysql line says where and how to look, as with
 * saslauthd -a pam + pam_mysql.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { eventually, startConfiguredDaemon } from '../helpers/daemon.js';
import { createMailboxes, testDatabase, type TestDatabase } from '../helpers/mysql.js';
import { tempDir } from '../helpers/temp.js';
import { ErrorCodes } from '../../src/errors.js';
import { PamBackend } from '../../src/backends/pam/pam-backend.js';
import { loadTuning } from '../../src/backends/mysql/native-config.js';
import { logSink } from '../helpers/log-sink.js';

const MD5CRYPT = '$1$8salt.8$Qn8gJEMYSrbUElnVsJXCQ1'; // "secret", libxcrypt
let db: TestDatabase;

beforeAll(async () => {
  db = await testDatabase();
  await createMailboxes(db.sql, [
    { username: 'alice@example.org', password: MD5CRYPT },
    { username: 'plain@example.org', password: 'secret' },
    { username: 'inactive@example.org', password: MD5CRYPT, active: 0 },
    { username: 'expired@example.org', password: MD5CRYPT, status: 1 },
    { username: 'mustchange@example.org', password: MD5CRYPT, status: 2 },
  ]);
}, 60_000);

afterAll(async () => {
  await db?.close();
});

/** The classic pam_mysql line (README.md), pointed at the test database. */
function pamLine(type: 'auth' | 'account', extra = 'crypt=1 md5=1 where=active=1'): string {
  return `${type} required pam_mysql.so user=${db.user} passwd=${db.password} host=${db.host}:${db.port} db=${db.database} table=mailbox usercolumn=username passwdcolumn=password ${extra}`;
}

function pamDir(files: Record<string, string>): string {
  const dir = path.join(tempDir(), 'pam.d');
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

const ask = async (socketPath: string, login: string, password: string, service = 'smtp') =>
  (await exchange(socketPath, requestFrame({ login, password, service, realm: 'example.org' }))).reply;

describe('-a pam -r with a pam_mysql service file', () => {
  it('answers like saslauthd + pam_mysql: right, wrong, unknown, inactive', async () => {
    const dir = pamDir({ smtp: `${pamLine('auth')}\n${pamLine('account')}\n` });
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'pam', realmJoin: true, pamDir: dir }, {});
    expect(await ask(socketPath, 'alice', 'secret')).toBe('OK');
    expect(await ask(socketPath, 'alice', 'wrong')).toBe('NO authentication failed');
    expect(await ask(socketPath, 'nobody', 'secret')).toBe('NO authentication failed');
    expect(await ask(socketPath, 'inactive', 'secret')).toBe('NO authentication failed');
    expect(sink.records().some((r) => r.msg === 'PAM service loaded' && r.service === 'smtp')).toBe(true);
    expect(sink.records().some((r) => String(r.msg).startsWith('pam_mysql option md5:'))).toBe(true);
    expect(sink.raw.join('')).not.toContain(db.password);
  });

  it('picks the service file by the request\'s service, each with its own crypt= mode', async () => {
    const dir = pamDir({ smtp: `${pamLine('auth')}\n`, imap: `${pamLine('auth', 'crypt=0')}\n` });
    const { socketPath } = await startConfiguredDaemon({ mech: 'pam', realmJoin: true, pamDir: dir }, {});
    expect(await ask(socketPath, 'plain', 'secret', 'imap')).toBe('OK');
    // Under crypt=1 the same plaintext value is not a crypt string: the configuration does not fit the table,
    // which is never the user's fault (saslauthd + pam_mysql would say NO here: a wrong password).
    expect(await ask(socketPath, 'plain', 'secret', 'smtp')).toBeUndefined();
    expect(await ask(socketPath, 'alice', 'secret', 'smtp')).toBe('OK');
  });

  it('refuses a service with no file or a name that is not a file name (NO, as Linux-PAM would), and answers a file with no pam_mysql line with a temporary failure', async () => {
    const dir = pamDir({ smtp: `${pamLine('auth')}\n`, pop3: 'auth required pam_unix.so\n' });
    // A file the daemon cannot read (here: a directory where the file should be; under systemd, a 0600 file owned by root).
    mkdirSync(path.join(dir, 'submission'));
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'pam', realmJoin: true, pamDir: dir }, {});
    expect(await ask(socketPath, 'alice', 'secret', 'imap')).toBe('NO authentication failed');
    expect(await ask(socketPath, 'alice', 'secret', 'pop3')).toBeUndefined();
    expect(await ask(socketPath, 'alice', 'secret', '../pam.d/smtp')).toBe('NO authentication failed');
    expect(await ask(socketPath, 'alice', 'secret', 'submission')).toBeUndefined();
    expect(sink.authEvents().map((e) => [e.code, e.level])).toEqual([[ErrorCodes.PAM_NO_SERVICE, 30], [ErrorCodes.PAM_CONFIG, 50], [ErrorCodes.INVALID_SERVICE, 30], [ErrorCodes.PAM_CONFIG, 50]]);
    expect(sink.records().some((r) => String(r.reason).includes('no such file'))).toBe(true);
    expect(sink.records().some((r) => String(r.reason).includes('no "auth ... pam_mysql.so" line'))).toBe(true);
  });

  it('honours statcolumn on the account line: expired accounts and passwords are refused', async () => {
    const dir = pamDir({ smtp: `${pamLine('auth')}\n${pamLine('account', 'statcolumn=status crypt=1')}\n` });
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'pam', realmJoin: true, pamDir: dir }, {});
    expect(await ask(socketPath, 'alice', 'secret')).toBe('OK');
    expect(await ask(socketPath, 'expired', 'secret')).toBe('NO authentication failed');
    expect(await ask(socketPath, 'mustchange', 'secret')).toBe('NO authentication failed');
    expect(sink.authEvents().slice(1).map((e) => e.code)).toEqual([ErrorCodes.ACCOUNT_EXPIRED, ErrorCodes.PASSWORD_EXPIRED]);
  });

  it('reads a pam_mysql config_file', async () => {
    const confDir = tempDir();
    const conf = path.join(confDir, 'pam-mysql.conf');
    writeFileSync(conf, [`users.host = ${db.host}:${db.port}`, `users.database = ${db.database}`, `users.db_user = ${db.user}`, `users.db_passwd = ${db.password}`, 'users.table = mailbox', 'users.user_column = username', 'users.password_column = password', 'users.password_crypt = 1', 'users.where_clause = active = 1'].join('\n'));
    const dir = pamDir({ smtp: `auth required pam_mysql.so config_file=${conf}\n` });
    const { socketPath } = await startConfiguredDaemon({ mech: 'pam', realmJoin: true, pamDir: dir }, {});
    expect(await ask(socketPath, 'alice', 'secret')).toBe('OK');
    expect(await ask(socketPath, 'inactive', 'secret')).toBe('NO authentication failed');
  });

  it('re-reads a changed service file without a restart', async () => {
    const dir = pamDir({ smtp: `${pamLine('auth')}\n` });
    const { socketPath } = await startConfiguredDaemon({ mech: 'pam', realmJoin: true, pamDir: dir }, {});
    expect(await ask(socketPath, 'inactive', 'secret')).toBe('NO authentication failed');
    // The administrator drops the where= clause: the inactive mailbox now logs in.
    writeFileSync(path.join(dir, 'smtp.new'), `${pamLine('auth', 'crypt=1')}\n`);
    renameSync(path.join(dir, 'smtp.new'), path.join(dir, 'smtp'));
    await eventually(async () => (await ask(socketPath, 'inactive', 'secret')) === 'OK', 8000, 200);
  });

  it('shares one pool between services with the same connection, and closes a pool no service uses any more', async () => {
    const dir = pamDir({ smtp: `${pamLine('auth')}\n`, imap: `${pamLine('auth')}\n` });
    const backend = new PamBackend({ pamDir: dir, tuning: loadTuning(undefined, {}), logger: logSink().logger });
    const look = (service: string) => backend.lookup({ user: 'alice@example.org', realm: 'example.org', service });
    const elsewhere = (type: 'auth') => pamLine(type).replace(`db=${db.database}`, `db=${db.database}_elsewhere`);
    try {
      expect((await look('smtp')).status).toBe('found');
      expect((await look('imap')).status).toBe('found');
      expect(backend.poolCount).toBe(1);
      // The files are checked at most once a second: wait that out after each change.
      writeFileSync(path.join(dir, 'imap'), `${elsewhere('auth')}\n`);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await look('imap');
      expect(backend.poolCount).toBe(2);
      writeFileSync(path.join(dir, 'smtp'), `${elsewhere('auth')}\n`);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await look('smtp');
      expect(backend.poolCount).toBe(1);
      writeFileSync(path.join(dir, 'smtp'), 'auth required pam_unix.so\n');
      writeFileSync(path.join(dir, 'imap'), 'auth required pam_unix.so\n');
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect((await look('smtp')).status).toBe('misconfigured');
      expect((await look('imap')).status).toBe('misconfigured');
      expect(backend.poolCount).toBe(0);
    } finally {
      await backend.close();
    }
  });

  it('remembers a bounded number of service names, and a flood of made-up ones does not push out a real one', async () => {
    const dir = pamDir({ smtp: `${pamLine('auth')}\n` });
    const backend = new PamBackend({ pamDir: dir, tuning: loadTuning(undefined, {}), logger: logSink().logger });
    try {
      expect((await backend.lookup({ user: 'alice@example.org', realm: 'example.org', service: 'smtp' })).status).toBe('found');
      for (let i = 0; i < 2000; i += 1) await backend.lookup({ user: 'alice@example.org', realm: 'example.org', service: `made-up-${i}` });
      expect(backend.serviceCount).toBeLessThanOrEqual(64 + 256);
      expect(backend.poolCount).toBe(1);
      expect((await backend.lookup({ user: 'alice@example.org', realm: 'example.org', service: 'smtp' })).status).toBe('found');
    } finally {
      await backend.close();
    }
  });
});
