/**
 * Attack: guess the password of a mailbox one of whose values the daemon
 * cannot check (an app password in {CRAM-MD5}, a scheme it does not read).
 * If that value turned every wrong guess into a temporary failure, which the
 * throttle does not count, guessing would be free and the right password
 * plain to see by its OK. Against the real process, with the preset.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnDaemon } from '../helpers/cli.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { SECRET_MD5CRYPT, testDatabase, type TestDatabase } from '../helpers/mysql.js';
import { presetEnv, seedPostfixAdmin } from '../helpers/postfixadmin.js';
import { tempDir } from '../helpers/temp.js';

/** Dovecot's {CRAM-MD5} (HMAC-MD5 context, 64 hex digits): a scheme this daemon does not read. */
const CRAM_MD5 = `{CRAM-MD5}${'a1b2c3d4'.repeat(8)}`;

let db: TestDatabase;

beforeAll(async () => {
  db = await testDatabase();
  await seedPostfixAdmin(db, {
    mailboxes: [
      { username: 'apps@example.org', password: SECRET_MD5CRYPT },
      { username: 'only@example.org', password: CRAM_MD5 },
    ],
    appPasswords: [['apps@example.org', CRAM_MD5]],
  });
}, 120_000);

afterAll(async () => {
  await db?.close();
});

async function start() {
  const dir = tempDir();
  const daemon = await spawnDaemon(['-a', 'mysql', '-m', path.join(dir, 'run'), '--throttle-after', '3', '--throttle-max-delay', '400'], { env: { ...process.env, ...presetEnv(db) } });
  const socketPath = path.join(dir, 'run', 'mux');
  const ask = async (login: string, password: string) => (await exchange(socketPath, requestFrame({ login, password, service: 'smtp', realm: '' }))).reply ?? 'no reply';
  const throttled = (user: string) => daemon.records().some((r) => r.event === 'throttle' && r.user === user);
  const delays = (user: string) => daemon.records().filter((r) => r.event === 'auth' && r.user === user).map((r) => Number(r.delayMs ?? 0));
  return { daemon, ask, throttled, delays };
}

describe('a value the daemon cannot check', () => {
  it('does not make wrong guesses free: beside a value it checked, each is a "no" and counts', async () => {
    const { daemon, ask, throttled, delays } = await start();
    const answers: string[] = [];
    for (let i = 0; i < 8; i += 1) answers.push(await ask('apps@example.org', `guess-${i}`));
    expect(answers).toEqual(Array.from({ length: 8 }, () => 'NO authentication failed'));
    expect(throttled('apps@example.org')).toBe(true);
    expect(delays('apps@example.org').slice(3).every((delay) => delay > 0)).toBe(true);
    // The owner's password still works.
    expect(await ask('apps@example.org', 'secret')).toBe('OK');
    await daemon.stop();
  }, 60_000);

  it('alone, is a temporary failure (the value must be fixed), and each guess still counts', async () => {
    const { daemon, ask, throttled, delays } = await start();
    for (let i = 0; i < 6; i += 1) expect(await ask('only@example.org', `guess-${i}`)).toBe('no reply');
    expect(daemon.records().filter((r) => r.event === 'auth' && r.user === 'only@example.org').every((r) => r.code === 'ERR_UNSUPPORTED_SCHEME')).toBe(true);
    expect(throttled('only@example.org')).toBe(true);
    expect(delays('only@example.org').slice(3).every((delay) => delay > 0)).toBe(true);
    await daemon.stop();
  }, 60_000);
});
