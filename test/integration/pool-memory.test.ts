/**
 * What an open database connection weighs in the daemon's heap: mysql2 sizes
 * each connection's prepared-statement cache for 16,000 statements unless told
 * otherwise, half a megabyte per connection before any statement is prepared.
 * The daemon runs a handful (hosts.ts), and a full pool is part of its peak.
 */
import { runInNewContext } from 'node:vm';
import v8 from 'node:v8';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { pino } from 'pino';
import { MysqlHosts } from '../../src/backends/mysql/hosts.js';
import { testDatabase, type TestDatabase } from '../helpers/mysql.js';

const POOL_SIZE = 8;
let db: TestDatabase;

beforeAll(async () => {
  db = await testDatabase();
}, 120_000);

afterAll(async () => {
  await db?.close();
});

v8.setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

function heapUsed(): number {
  collect();
  collect();
  return v8.getHeapStatistics().used_heap_size;
}

it(`holds a full pool of ${POOL_SIZE} connections, each with its statements prepared, in well under a megabyte of heap`, async () => {
  const hosts = new MysqlHosts(
    { hosts: [{ host: db.host, port: db.port }], database: db.database, user: db.user, password: db.password, connectTimeoutMs: 5000, queryTimeoutMs: 5000, poolSize: POOL_SIZE, retryAfterMs: 1000 },
    pino({ level: 'silent' }),
  );
  try {
    // Warm up what every connection shares (the driver's modules, parsers), on one connection.
    await hosts.query('SELECT ?', ['warm-up']);
    const before = heapUsed();
    // As many statements out at once as the pool has connections: every connection opens.
    await Promise.all(Array.from({ length: POOL_SIZE }, (_, i) => hosts.query('SELECT SLEEP(0.2), ?', [`name-${i}`])));
    await Promise.all(Array.from({ length: POOL_SIZE }, (_, i) => hosts.query('SELECT ? AS name', [`name-${i}`])));
    const grown = heapUsed() - before;
    expect(grown).toBeLessThan(POOL_SIZE * 100 * 1024);
  } finally {
    await hosts.close();
  }
}, 60_000);
