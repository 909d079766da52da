/**
 * An unknown mailbox must cost as much time as a known one, whatever scheme
 * the table uses, so the answer's timing does not reveal which mailboxes exist.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { startConfiguredDaemon } from '../helpers/daemon.js';
import { createMailboxes, mailboxEnv, testDatabase, type TestDatabase } from '../helpers/mysql.js';

// htpasswd -bnBC 12 u secret: about a quarter of a second per check.
const BCRYPT_12 = '$2y$12$YcI8aVthhItc4jD/VXCwfe0/hfcrKTenW8i1AJ4g8zqy0m60T4iaG';
let db: TestDatabase;

beforeAll(async () => {
  db = await testDatabase();
  await createMailboxes(db.sql, [{ username: 'alice@example.org', password: BCRYPT_12 }]);
}, 60_000);

afterAll(async () => {
  await db?.close();
});

async function timed(socketPath: string, login: string, password = 'wrong'): Promise<number> {
  const started = performance.now();
  const result = await exchange(socketPath, requestFrame({ login, password, realm: 'example.org' }), { timeoutMs: 10_000 });
  expect(result.reply).toBe('NO authentication failed');
  return performance.now() - started;
}

describe('timing of unknown users', () => {
  it('in a bcrypt table, an unknown user takes as long as a known one with a wrong password', async () => {
    const { socketPath } = await startConfiguredDaemon(
      { mech: 'mysql', realmJoin: true },
      mailboxEnv(db, { SASLAUTHD_MYSQL_DB_WHERE: '' }),
    );
    // The first bcrypt also starts the slow pool's thread: not part of either figure.
    await timed(socketPath, 'alice', 'warm-up');
    const known = await timed(socketPath, 'alice');
    const unknown = await timed(socketPath, 'nobody');
    // bcrypt cost 12 takes a quarter of a second; a cheap dummy would answer in about a millisecond.
    expect(known).toBeGreaterThan(100);
    expect(unknown).toBeGreaterThan(known / 2);
  });

  it('a repeated guess comes back as fast for an unknown user as for a known one', async () => {
    // The rejected cache skips the hash for a password that already failed against the same row.
    // It remembers failures for names with no row too, or the repeat would be fast only for real users.
    const { socketPath, sink } = await startConfiguredDaemon(
      { mech: 'mysql', realmJoin: true },
      mailboxEnv(db, { SASLAUTHD_MYSQL_DB_WHERE: '' }),
    );
    await timed(socketPath, 'alice');
    await timed(socketPath, 'nobody');
    const known = await timed(socketPath, 'alice');
    const unknown = await timed(socketPath, 'nobody');
    expect(sink.authEvents().map((e) => e.cache)).toEqual([undefined, undefined, 'rejected', 'rejected']);
    // Both skip bcrypt's quarter second.
    expect(known).toBeLessThan(100);
    expect(unknown).toBeLessThan(100);
  });
});
