/**
 * Caching against a real database. The default cache is never stale: a
 * password change, a deactivation and a deleted mailbox each take effect at
 * the very next login. The saslauthd-style -c cache trades that for speed,
 * until its entries expire.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { startConfiguredDaemon } from '../helpers/daemon.js';
import { mailboxEnv, POSTFIXADMIN_SCHEMA, testDatabase, type TestDatabase } from '../helpers/mysql.js';
import { vector } from '../helpers/frames.js';

const OLD = vector('libxcrypt', '$1$ md5crypt', 'secret');
const NEW = vector('htpasswd', '$2y$ bcrypt', 'pässwörd');
let db: TestDatabase;

beforeAll(async () => {
  db = await testDatabase();
  for (const statement of POSTFIXADMIN_SCHEMA) await db.sql(statement);
}, 60_000);

beforeEach(async () => {
  await db.sql('DELETE FROM mailbox');
  await db.sql("INSERT INTO mailbox (username, password, domain, active) VALUES ('alice@example.org', ?, 'example.org', 1)", [OLD]);
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
    // A wrong password is never answered from the cache.
    expect(await ask(socketPath, 'wrong')).toBe('NO authentication failed');
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
    daemon.flushCaches();
    await ask(socketPath, 'secret');
    expect(sink.authEvents().map((e) => e.cache)).toEqual([undefined, undefined]);
  });

  it('can be turned off', async () => {
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true, verifyCache: '0' }, env());
    await ask(socketPath, 'secret');
    await ask(socketPath, 'secret');
    expect(sink.authEvents().map((e) => e.cache)).toEqual([undefined, undefined]);
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
