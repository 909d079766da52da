/**
 * Caching against a real database. The default caches are never stale: a
 * password change, a deactivation and a deleted mailbox each take effect at
 * the very next login, and so do the changes that turn a failure into a
 * success (a new password, a new or reactivated mailbox). The saslauthd-style -c cache trades that for speed,
 * until its entries expire.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { startConfiguredDaemon } from '../helpers/daemon.js';
import { createMailboxes, insertMailboxes, mailboxEnv, testDatabase, type TestDatabase } from '../helpers/mysql.js';
import { vector } from '../helpers/vectors.js';
import { ErrorCodes } from '../../src/errors.js';

const OLD = vector('libxcrypt', '$1$ md5crypt', 'secret');
const NEW = vector('htpasswd', '$2y$ bcrypt', 'pässwörd');
let db: TestDatabase;

beforeAll(async () => {
  db = await testDatabase();
  await createMailboxes(db.sql);
}, 60_000);

beforeEach(async () => {
  await db.sql('DELETE FROM mailbox');
  await insertMailboxes(db.sql, [{ username: 'alice@example.org', password: OLD }]);
});

afterAll(async () => {
  await db?.close();
});

const env = () => mailboxEnv(db);

const ask = async (socketPath: string, password: string) => (await exchange(socketPath, requestFrame({ login: 'alice', password, realm: 'example.org' }))).reply;

describe('the default cache (never stale)', () => {
  it('answers a repeated login from the cache, still reading the row', async () => {
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env());
    expect(await ask(socketPath, 'secret')).toBe('OK');
    expect(await ask(socketPath, 'secret')).toBe('OK');
    expect(sink.authEvents().map((e) => e.cache)).toEqual([undefined, 'verified']);
    // A wrong password is never answered from the verified cache.
    expect(await ask(socketPath, 'wrong')).toBe('NO authentication failed');
    expect(sink.authEvents()[2]).toMatchObject({ result: 'failure', code: ErrorCodes.WRONG_PASSWORD, scheme: 'MD5-CRYPT' });
    expect(sink.authEvents()[2]!.cache).toBeUndefined();
  });

  it('answers a repeated wrong password from the rejected cache, with the same line', async () => {
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env());
    expect(await ask(socketPath, 'old-password')).toBe('NO authentication failed');
    expect(await ask(socketPath, 'old-password')).toBe('NO authentication failed');
    expect(await ask(socketPath, 'secret')).toBe('OK');
    const [first, repeat] = sink.authEvents();
    expect(first).toMatchObject({ result: 'failure', code: ErrorCodes.WRONG_PASSWORD, reason: 'wrong password', scheme: 'MD5-CRYPT' });
    expect(repeat).toMatchObject({ result: 'failure', code: ErrorCodes.WRONG_PASSWORD, reason: 'wrong password', scheme: 'MD5-CRYPT', cache: 'rejected' });
    // fail2ban reads the message: a failure from the cache reads exactly like the first one.
    expect(repeat!.msg).toBe(first!.msg);
    expect(first!.msg).toBe('auth failure: [user=alice@example.org] [service=smtp] [realm=example.org] [mech=mysql] [reason=wrong password]');
  });

  it('a password that failed before works at the next login once it becomes the password', async () => {
    const { socketPath } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env());
    expect(await ask(socketPath, 'pässwörd')).toBe('NO authentication failed');
    expect(await ask(socketPath, 'pässwörd')).toBe('NO authentication failed');
    await db.sql("UPDATE mailbox SET password = ? WHERE username = 'alice@example.org'", [NEW]);
    expect(await ask(socketPath, 'pässwörd')).toBe('OK');
  });

  it('a mailbox created after failed logins works at the next login', async () => {
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env());
    await db.sql("DELETE FROM mailbox WHERE username = 'alice@example.org'");
    expect(await ask(socketPath, 'secret')).toBe('NO authentication failed');
    expect(await ask(socketPath, 'secret')).toBe('NO authentication failed');
    expect(sink.authEvents().map((e) => [e.code, e.cache])).toEqual([
      [ErrorCodes.UNKNOWN_USER, undefined],
      [ErrorCodes.UNKNOWN_USER, 'rejected'],
    ]);
    await insertMailboxes(db.sql, [{ username: 'alice@example.org', password: OLD }]);
    expect(await ask(socketPath, 'secret')).toBe('OK');
  });

  it('a reactivated mailbox works at the next login', async () => {
    const { socketPath } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env());
    await db.sql("UPDATE mailbox SET active = 0 WHERE username = 'alice@example.org'");
    expect(await ask(socketPath, 'secret')).toBe('NO authentication failed');
    expect(await ask(socketPath, 'secret')).toBe('NO authentication failed');
    await db.sql("UPDATE mailbox SET active = 1 WHERE username = 'alice@example.org'");
    expect(await ask(socketPath, 'secret')).toBe('OK');
  });

  it('a password change takes effect at the next login', async () => {
    const { socketPath } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env());
    expect(await ask(socketPath, 'secret')).toBe('OK');
    expect(await ask(socketPath, 'secret')).toBe('OK');
    await db.sql("UPDATE mailbox SET password = ? WHERE username = 'alice@example.org'", [NEW]);
    expect(await ask(socketPath, 'secret')).toBe('NO authentication failed');
    expect(await ask(socketPath, 'pässwörd')).toBe('OK');
  });

  it('a deactivation takes effect at the next login', async () => {
    const { socketPath } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env());
    expect(await ask(socketPath, 'secret')).toBe('OK');
    await db.sql("UPDATE mailbox SET active = 0 WHERE username = 'alice@example.org'");
    expect(await ask(socketPath, 'secret')).toBe('NO authentication failed');
  });

  it('a deleted mailbox takes effect at the next login', async () => {
    const { socketPath } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env());
    expect(await ask(socketPath, 'secret')).toBe('OK');
    await db.sql("DELETE FROM mailbox WHERE username = 'alice@example.org'");
    expect(await ask(socketPath, 'secret')).toBe('NO authentication failed');
  });

  it('is flushed by SIGHUP (flushCaches)', async () => {
    const { socketPath, sink, daemon } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env());
    await ask(socketPath, 'secret');
    await ask(socketPath, 'wrong');
    daemon.flushCaches();
    await ask(socketPath, 'secret');
    await ask(socketPath, 'wrong');
    expect(sink.authEvents().map((e) => e.cache)).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('can be turned off, for successes and failures alike', async () => {
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true, verifyCache: '0' }, env());
    await ask(socketPath, 'secret');
    await ask(socketPath, 'secret');
    await ask(socketPath, 'wrong');
    await ask(socketPath, 'wrong');
    expect(sink.authEvents().map((e) => e.cache)).toEqual([undefined, undefined, undefined, undefined]);
  });
});

describe('the saslauthd-style cache (-c)', () => {
  it('skips the database for a recent success, and keeps an old password working until -t expires', async () => {
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true, cache: true, cacheTtl: '1' }, env());
    expect(await ask(socketPath, 'secret')).toBe('OK');
    await db.sql("UPDATE mailbox SET password = ? WHERE username = 'alice@example.org'", [NEW]);
    // The documented trade-off: still OK from the cache.
    expect(await ask(socketPath, 'secret')).toBe('OK');
    expect(sink.authEvents()[1]).toMatchObject({ cache: 'credential' });
    // A different password is not served from it.
    expect(await ask(socketPath, 'pässwörd')).toBe('OK');
    await new Promise((r) => setTimeout(r, 1100));
    expect(await ask(socketPath, 'secret')).toBe('NO authentication failed');
  });
});
