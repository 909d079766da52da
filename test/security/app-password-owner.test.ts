/**
 * Attack: log in as one mailbox with the app password of another whose name
 * a collation takes for the same. PostfixAdmin's mailbox table is
 * latin1_general_ci, which tells "müller" from "muller"; its newer
 * mailbox_app_password table is utf8mb4_general_ci, which does not. Against
 * the real process, on both listeners, with the preset and with a
 * password_query that names its rows' user.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnDaemon } from '../helpers/cli.js';
import { dovecotPlainLogin } from '../helpers/dovecot-client.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { mailboxEnv, SECRET_MD5CRYPT, testDatabase, type TestDatabase } from '../helpers/mysql.js';
import { presetEnv, seedPostfixAdmin } from '../helpers/postfixadmin.js';
import { tempDir } from '../helpers/temp.js';

/** "other" as md5crypt (libxcrypt). */
const OTHER_MD5CRYPT = '$1$abcdefgh$0cZDBA1/jdY3VmuMpelFJ1';

let db: TestDatabase;

beforeAll(async () => {
  db = await testDatabase();
  await seedPostfixAdmin(db, {
    mailboxes: [
      { username: 'müller@example.org', password: SECRET_MD5CRYPT },
      { username: 'muller@example.org', password: OTHER_MD5CRYPT },
    ],
    // muller's phone; müller has none.
    appPasswords: [['muller@example.org', '{PLAIN}mullers-phone']],
  });
}, 120_000);

afterAll(async () => {
  await db?.close();
});

async function daemonWith(env: Record<string, string>) {
  const dir = tempDir();
  const auth = path.join(dir, 'auth');
  const daemon = await spawnDaemon(['-a', 'mysql', '-m', path.join(dir, 'run'), '--dovecot-socket', auth], { env: { ...process.env, ...env } });
  const mux = path.join(dir, 'run', 'mux');
  return {
    daemon,
    mux: async (login: string, password: string) => (await exchange(mux, requestFrame({ login, password, service: 'smtp', realm: '' }))).reply ?? 'no reply',
    dovecot: async (login: string, password: string) => {
      const answer = await dovecotPlainLogin({ path: auth }, login, password);
      return /\nOK\t1\t(.*)\n/.exec(answer)?.[0].trim() ?? /\nFAIL\t1\t.*\n/.exec(answer)?.[0].trim() ?? 'closed';
    },
  };
}

describe("an app password opens only its own mailbox", () => {
  it('with preset = postfixadmin, on the mux socket and the Dovecot protocol', async () => {
    const { daemon, mux, dovecot } = await daemonWith(presetEnv(db));
    // Each mailbox with its own passwords: in.
    expect(await mux('müller@example.org', 'secret')).toBe('OK');
    expect(await mux('muller@example.org', 'mullers-phone')).toBe('OK');
    expect(await dovecot('müller@example.org', 'secret')).toBe('OK\t1\tuser=müller@example.org');
    // müller with muller's app password: no, on both doors.
    expect(await mux('müller@example.org', 'mullers-phone')).toBe('NO authentication failed');
    expect(await dovecot('müller@example.org', 'mullers-phone')).toBe('FAIL\t1\treason=authentication failed');
    expect(daemon.records().filter((r) => r.event === 'auth' && r.user === 'müller@example.org' && r.result === 'failure').map((r) => r.code)).toEqual(['ERR_WRONG_PASSWORD', 'ERR_WRONG_PASSWORD']);
    await daemon.stop();
  }, 60_000);

  it('with a password_query whose rows name their user: values of two users are never one login\'s', async () => {
    const query =
      "SELECT password, username AS user FROM mailbox WHERE username = '%u' UNION ALL SELECT password_hash, username FROM mailbox_app_password WHERE username = '%u'";
    const { SASLAUTHD_MYSQL_DB_TABLE: _table, SASLAUTHD_MYSQL_DB_WHERE: _where, ...connection } = mailboxEnv(db);
    const { daemon, mux, dovecot } = await daemonWith({ ...connection, SASLAUTHD_MYSQL_DB_PASSWORD_QUERY: query });
    expect(await mux('muller@example.org', 'mullers-phone')).toBe('OK');
    // The query hands müller's login muller's app password too: never a way in, and the log names the query as the fault.
    expect(await mux('müller@example.org', 'mullers-phone')).not.toBe('OK');
    expect(await dovecot('müller@example.org', 'mullers-phone')).not.toMatch(/^OK/);
    expect(daemon.records().filter((r) => r.event === 'auth' && r.user === 'müller@example.org').map((r) => r.code)).toEqual(['ERR_AMBIGUOUS_USER', 'ERR_AMBIGUOUS_USER']);
    await daemon.stop();
  }, 60_000);
});
