/**
 * Column lookups asked together in one statement (src/backends/mysql/lookup-batch.ts)
 * must give every login exactly what asking alone gives it, on a real server,
 * with the collation deciding which row is whose: "ALICE", "Älice" and
 * "alice " are all the row "alice" under utf8mb4_general_ci.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes } from '../../src/errors.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { MysqlHosts } from '../../src/backends/mysql/hosts.js';
import { MAX_BATCH, MysqlLookup } from '../../src/backends/mysql/mysql-lookup.js';
import type { ColumnLookup } from '../../src/backends/mysql/settings.js';
import { testDatabase, type TestDatabase } from '../helpers/mysql.js';

let db: TestDatabase;
let hosts: MysqlHosts;

beforeAll(async () => {
  db = await testDatabase();
  await db.sql('CREATE TABLE people (username VARCHAR(64) NOT NULL, password VARCHAR(128), active TINYINT NOT NULL, status INT NOT NULL DEFAULT 0, KEY (username)) DEFAULT CHARSET=utf8mb4 COLLATE utf8mb4_general_ci');
  await db.sql(
    "INSERT INTO people VALUES ('alice', 'pw-alice', 1, 0), ('bob', 'pw-bob', 1, 0), ('carol', 'pw-carol', 0, 0), ('twin', 'pw-1', 1, 0), ('twin', 'pw-2', 1, 0), ('dora', 'pw-dora', 1, 1), ('empty', '', 1, 0)",
  );
  hosts = new MysqlHosts(
    { hosts: [{ host: db.host, port: db.port }], database: db.database, user: db.user, password: db.password, connectTimeoutMs: 5000, queryTimeoutMs: 5000, poolSize: 4, retryAfterMs: 1000 },
    pino({ level: 'silent' }),
  );
}, 120_000);

afterAll(async () => {
  await hosts?.close();
  await db?.close();
});

const NAMES = ['alice', 'ALICE', 'Älice', 'alice ', 'bob', 'carol', 'nobody', 'twin', 'dora', 'empty', "x' OR '1'='1", 'alice'];

describe.each<[string, ColumnLookup]>([
  ['password column only', { kind: 'columns', table: 'people', userColumn: 'username', passwordColumn: 'password', where: 'active = 1' }],
  ['with a status column', { kind: 'columns', table: 'people', userColumn: 'username', passwordColumn: 'password', where: 'active = 1', statusColumn: 'status' }],
])('lookups asked together, %s', (_name, lookup) => {
  const statements: string[] = [];
  const counting = { query: (sql: string, params: readonly string[]) => (statements.push(sql), hosts.query(sql, params)) } as unknown as MysqlHosts;
  const make = () => new MysqlLookup({ connection: { hosts: [], database: '', user: '', password: '', connectTimeoutMs: 5000, queryTimeoutMs: 5000, poolSize: 4, retryAfterMs: 0 }, lookup }, counting);

  it('give every login what asking alone gives it, in one statement', async () => {
    const alone = make();
    const one: unknown[] = [];
    for (const user of NAMES) {
      one.push(await alone.lookup({ user, realm: '', service: 'smtp' }));
      await nextTurn();
    }
    expect(statements).toHaveLength(NAMES.length);
    statements.length = 0;

    const together = make();
    const all = await Promise.all(NAMES.map((user) => together.lookup({ user, realm: '', service: 'smtp' })));
    expect(statements).toHaveLength(1);
    expect(all).toEqual(one);

    const byName = Object.fromEntries(NAMES.map((name, i) => [name, all[i]]));
    expect(byName.ALICE).toMatchObject({ status: 'found', user: 'alice', candidates: [{ stored: 'pw-alice' }] });
    expect(byName['Älice']).toMatchObject({ status: 'found', user: 'alice' });
    expect(byName['alice ']).toMatchObject({ status: 'found', user: 'alice' });
    expect(byName.bob).toMatchObject({ status: 'found', user: 'bob', candidates: [{ stored: 'pw-bob' }] });
    expect(byName.carol).toEqual({ status: 'unknown' });
    expect(byName.nobody).toEqual({ status: 'unknown' });
    expect(byName["x' OR '1'='1"]).toEqual({ status: 'unknown' });
    expect(byName.twin).toMatchObject({ status: 'misconfigured' });
    expect(byName.empty).toMatchObject({ status: 'refused' });
    expect(byName.dora).toMatchObject(lookup.statusColumn ? { status: 'refused' } : { status: 'found', user: 'dora' });
  }, 30_000);

  it('asks every batch size with one of five statements (2, 4, 8, 16, 32 names), each login answered as alone', async () => {
    statements.length = 0;
    const together = make();
    for (let count = 2; count <= MAX_BATCH; count += 1) {
      // The padding repeats the last name: put a row's name there, and one at the front.
      const names = Array.from({ length: count }, (_, i) => (i === 0 ? 'bob' : i === count - 1 ? 'ALICE' : `nobody-${i}`));
      const all = await Promise.all(names.map((user) => together.lookup({ user, realm: '', service: 'smtp' })));
      expect(all[0]).toMatchObject({ status: 'found', user: 'bob', candidates: [{ stored: 'pw-bob' }] });
      expect(all[count - 1]).toMatchObject({ status: 'found', user: 'alice', candidates: [{ stored: 'pw-alice' }] });
      expect(all.slice(1, -1).filter((found) => found.status !== 'unknown')).toEqual([]);
      await nextTurn();
    }
    expect(statements).toHaveLength(MAX_BATCH - 1);
    expect(new Set(statements).size).toBe(5);
  }, 30_000);
});

describe('lookups while the table is locked (every statement stalls)', () => {
  it('refuses at once what the statements could not carry, and without asking what waited past connect_timeout; the rest are answered once the lock goes', async () => {
    const connection = { hosts: [{ host: db.host, port: db.port }], database: db.database, user: db.user, password: db.password, connectTimeoutMs: 300, queryTimeoutMs: 10_000, poolSize: 2, retryAfterMs: 1000 };
    const lockedHosts = new MysqlHosts(connection, pino({ level: 'silent' }));
    const lookup = new MysqlLookup({ connection, lookup: { kind: 'columns', table: 'people', userColumn: 'username', passwordColumn: 'password', where: 'active = 1' } }, lockedHosts);
    try {
      // On the administrative connection, which nothing else uses meanwhile.
      await db.sql('LOCK TABLES people WRITE');
      // pool_size 2 x 32 names per statement = 64 may wait; the rest of this turn's lookups are refused at once.
      const first = Array.from({ length: 164 }, (_, i) => lookup.lookup({ user: i % 2 ? 'alice' : `user${i}`, realm: '', service: 'smtp' }));
      const refusedAtOnce = await Promise.race([Promise.all(first.slice(64)), sleep(200).then(() => 'still waiting' as const)]);
      expect(refusedAtOnce).not.toBe('still waiting');
      for (const result of refusedAtOnce as unknown[]) expect(result).toMatchObject({ status: 'unavailable', code: ErrorCodes.BACKEND_BUSY, reason: expect.stringContaining('LOOKUP_QUEUE_FULL') });
      // Once both statements are out and stalled, these wait for a turn, and wait too long.
      await sleep(100);
      const late = Array.from({ length: 20 }, () => lookup.lookup({ user: 'bob', realm: '', service: 'smtp' }));
      await sleep(500);
      await db.sql('UNLOCK TABLES');
      const answered = await Promise.all(first.slice(0, 64));
      expect(answered.filter((result) => result.status === 'found')).toHaveLength(32);
      expect(answered.filter((result) => result.status === 'unknown')).toHaveLength(32);
      for (const result of await Promise.all(late)) expect(result).toMatchObject({ status: 'unavailable', code: ErrorCodes.BACKEND_BUSY, reason: expect.stringContaining('LOOKUP_WAIT') });
      // And the next login is asked as usual.
      await expect(lookup.lookup({ user: 'bob', realm: '', service: 'smtp' })).resolves.toMatchObject({ status: 'found', user: 'bob' });
    } finally {
      await db.sql('UNLOCK TABLES').catch(() => undefined);
      await lockedHosts.close();
    }
  }, 30_000);
});
