/**
 * Attack, or just a typo: a DES value reads only the first 8 bytes of a
 * password, so "passwordTYPO" matches the value of "password123". Re-hashing
 * that login wrote the typo as the new password and locked the owner out.
 * And a value with more work than the target (sha256-crypt at 200,000
 * rounds) was rewritten with 5,000: a stolen table became cheaper to guess.
 * And a rehash_cost above the cost ceilings made every re-hashed mailbox's
 * next login a temporary failure. Against the real process, with the preset.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnDaemon } from '../helpers/cli.js';
import { eventually } from '../helpers/daemon.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { SECRET_MD5CRYPT, testDatabase, type TestDatabase } from '../helpers/mysql.js';
import { presetEnv, seedPostfixAdmin } from '../helpers/postfixadmin.js';
import { tempDir } from '../helpers/temp.js';

/** perl's crypt() (libxcrypt): DES of "password123" (it reads "password"), and sha256-crypt of "secret" at 200,000 rounds. */
const DES_PASSWORD123 = 'abJnggxhB/yWI';
const SLOW_SHA256 = '$5$rounds=200000$saltsaltsalt$JNrt0m4Yx4a7kTEfDjx/vo8NFr3K5.SF4WSou2w/eA0';

let db: TestDatabase;

beforeAll(async () => {
  db = await testDatabase();
  await seedPostfixAdmin(db, {
    mailboxes: [
      { username: 'des@example.org', password: DES_PASSWORD123 },
      { username: 'slow@example.org', password: SLOW_SHA256 },
      { username: 'md5@example.org', password: SECRET_MD5CRYPT },
    ],
  });
  await db.sql("CREATE USER IF NOT EXISTS 'rehasher'@'%' IDENTIFIED BY 'writer-pw'");
  await db.sql(`GRANT SELECT (username, password), UPDATE (password) ON \`${db.database}\`.mailbox TO 'rehasher'@'%'`);
}, 120_000);

afterAll(async () => {
  await db?.sql("DROP USER IF EXISTS 'rehasher'@'%'").catch(() => undefined);
  await db?.close();
});

const writer = (extra: Record<string, string> = {}) => ({ ...presetEnv(db), SASLAUTHD_MYSQL_DB_REHASH_TO: 'SHA512-CRYPT', SASLAUTHD_MYSQL_DB_REHASH_USER: 'rehasher', SASLAUTHD_MYSQL_DB_REHASH_PASSWORD: 'writer-pw', ...extra });

async function storedValue(user: string): Promise<string> {
  const rows = (await db.sql('SELECT password FROM mailbox WHERE username = ?', [user])) as Array<{ password: string }>;
  return rows[0]!.password;
}

describe('re-hashing on login', () => {
  it('writes only a password the match proved whole, and never a value of less work', async () => {
    const dir = tempDir();
    const daemon = await spawnDaemon(['-a', 'mysql', '-m', path.join(dir, 'run'), '-V'], { env: { ...process.env, ...writer() } });
    const socketPath = path.join(dir, 'run', 'mux');
    const ask = async (login: string, password: string) => (await exchange(socketPath, requestFrame({ login, password, service: 'smtp', realm: '' }))).reply;
    // The control: md5crypt is re-hashed, so re-hashing runs.
    expect(await ask('md5@example.org', 'secret')).toBe('OK');
    await eventually(async () => (await storedValue('md5@example.org')).startsWith('$6$'), 10_000, 100);
    // DES matched "passwordTYPO" on its first 8 bytes: in, as saslauthd + pam_mysql would let it, but not written.
    expect(await ask('des@example.org', 'passwordTYPO')).toBe('OK');
    expect(await ask('slow@example.org', 'secret')).toBe('OK');
    await eventually(() => daemon.records().filter((r) => r.event === 'auth' && r.result === 'success').length === 3, 5_000, 50);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await storedValue('des@example.org')).toBe(DES_PASSWORD123);
    expect(await storedValue('slow@example.org')).toBe(SLOW_SHA256);
    // The owner's own password still works.
    expect(await ask('des@example.org', 'password123')).toBe('OK');
    await daemon.stop();
  }, 60_000);

  it('refuses at start-up a rehash_cost above the cost ceilings', async () => {
    const dir = tempDir();
    const result = await runCli(['-a', 'mysql', '-m', path.join(dir, 'run'), '--max-sha-crypt-rounds', '100000'], { env: { ...process.env, ...writer({ SASLAUTHD_MYSQL_DB_REHASH_COST: '200000' }) } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/rehash_cost: SHA512-CRYPT at 200000 rounds is above --max-sha-crypt-rounds \(100000\)/);
  }, 30_000);
});
