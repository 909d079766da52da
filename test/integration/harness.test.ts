import { describe, expect, it } from 'vitest';
import { testDatabase } from '../helpers/mysql.js';

describe('the test database harness', () => {
  it('gives a real server, says which, and a database only we use', async () => {
    const started = Date.now();
    const db = await testDatabase();
    try {
      expect(['MYSQL_URL', 'testcontainers', 'throwaway mariadbd']).toContain(db.kind);
      const rows = (await db.sql('SELECT DATABASE() AS name, VERSION() AS version')) as Array<{ name: string; version: string }>;
      expect(rows[0]?.name).toBe(db.database);
      process.stderr.write(`[test database] ${db.kind}, ${rows[0]?.version}, ready in ${Date.now() - started} ms\n`);
    } finally {
      await db.close();
    }
  }, 60_000);
});
