/**
 * Attack: send a login name the user column's character set cannot hold
 * ("łukasz", for PostfixAdmin's latin1 mailbox table). The server refuses to
 * compare it, and a statement that asks for several logins at once failed as
 * a whole, taking the other users' logins with it. Against the real
 * process, with a column lookup (whose logins are batched) under load.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnDaemon } from '../helpers/cli.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { mailboxEnv, SECRET_MD5CRYPT, testDatabase, type TestDatabase } from '../helpers/mysql.js';
import { seedPostfixAdmin } from '../helpers/postfixadmin.js';
import { tempDir } from '../helpers/temp.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await testDatabase();
  await seedPostfixAdmin(db, { mailboxes: [{ username: 'alice@example.org', password: SECRET_MD5CRYPT }, { username: 'bob@example.org', password: SECRET_MD5CRYPT }] });
}, 120_000);

afterAll(async () => {
  await db?.close();
});

/** Log in again and again until `until`, keeping every answer. */
async function loop(socketPath: string, login: string, password: string, until: number): Promise<string[]> {
  const answers: string[] = [];
  // A guess the throttle holds may wait out the answer deadline.
  while (Date.now() < until) answers.push((await exchange(socketPath, requestFrame({ login, password, service: 'smtp', realm: '' }), { timeoutMs: 15_000 })).reply ?? 'no reply');
  return answers;
}

describe('a name the user column cannot hold', () => {
  it("is an unknown user, and never fails another user's login", async () => {
    const dir = tempDir();
    // The throttle off: the lookup is the subject here, and a throttled guesser would hardly ask for one.
    const daemon = await spawnDaemon(['-a', 'mysql', '-m', path.join(dir, 'run'), '--throttle-after', '0'], { env: { ...process.env, ...mailboxEnv(db) } });
    const socketPath = path.join(dir, 'run', 'mux');
    // A first login, so the statement is known to work.
    expect((await exchange(socketPath, requestFrame({ login: 'alice@example.org', password: 'secret', service: 'smtp', realm: '' }))).reply).toBe('OK');

    const until = Date.now() + 3_000;
    const [alice, bob, ...attackers] = await Promise.all([
      loop(socketPath, 'alice@example.org', 'secret', until),
      loop(socketPath, 'bob@example.org', 'secret', until),
      ...Array.from({ length: 4 }, () => loop(socketPath, 'łukasz@example.org', 'guess', until)),
    ]);
    process.stderr.write(`[unrepresentable name] alice ${alice.length} logins, bob ${bob.length}, the attackers ${attackers.flat().length} requests\n`);
    // Every right password answered OK, however the logins were batched together.
    expect(alice.length).toBeGreaterThan(20);
    expect(new Set([...alice, ...bob])).toEqual(new Set(['OK']));
    // łukasz: a "no" (or, once his guesses pile up, the throttle's "try later"), never a lookup error.
    expect(attackers.flat().filter((answer) => answer === 'OK')).toEqual([]);
    const lukasz = daemon.records().filter((r) => r.event === 'auth' && r.user === 'łukasz@example.org');
    expect(lukasz.filter((r) => r.code === 'ERR_UNKNOWN_USER').length).toBeGreaterThan(0);
    expect(lukasz.filter((r) => r.code !== 'ERR_UNKNOWN_USER' && r.code !== 'ERR_THROTTLE_BUSY').map((r) => r.code)).toEqual([]);
    // Logged as an unknown user is, at the failure level: no error line per login.
    expect(daemon.records().filter((r) => Number(r.level) >= 50).map((r) => `${String(r.code)} ${String(r.msg)}`)).toEqual([]);
    await daemon.stop();
  }, 60_000);
});
