/**
 * A database that is up but slow, or more logins at once than the pool has
 * connections: the daemon's own pool is full. That must not mark the host down
 * (a failover, a warning about a dead host) nor let the outage cache answer
 * for a working database. Against the real process, with a real MariaDB.
 */
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { spawnDaemon } from '../helpers/cli.js';
import { SECRET_MD5CRYPT, suiteMailboxDatabase } from '../helpers/mysql.js';
import { tempDir } from '../helpers/temp.js';

const database = suiteMailboxDatabase([{ username: 'alice@example.org', password: SECRET_MD5CRYPT }]);

describe('a full connection pool', () => {
  it('is a temporary failure of its own: the host stays up and the outage cache does not answer', async () => {
    const db = database();
    const dir = tempDir();
    const conf = path.join(dir, 'db.conf');
    writeFileSync(
      conf,
      [
        `hosts = ${db.host}:${db.port}`,
        `database = ${db.database}`,
        `user = ${db.user}`,
        `password = ${db.password}`,
        // Every lookup holds the one connection for 600 ms; a login waits at most 200 ms for it.
        "password_query = SELECT password FROM mailbox WHERE username = '%u' AND SLEEP(0.6) = 0",
        'pool_size = 1',
        'connect_timeout = 200',
        'query_timeout = 5000',
      ].join('\n'),
      { mode: 0o600 },
    );
    const daemon = await spawnDaemon(['-a', 'mysql', '-O', conf, '-r', '-m', path.join(dir, 'run'), '--outage-ttl', '600', '--throttle-after', '0']);
    const ask = () => exchange(path.join(dir, 'run', 'mux'), requestFrame({ login: 'alice', password: 'secret', service: 'smtp', realm: 'example.org' }), { timeoutMs: 10_000 }).then((r) => r.reply);
    expect(await ask()).toBe('OK');
    const burst = await Promise.all(Array.from({ length: 4 }, () => ask()));
    // One gets the connection; the others find it busy: no reply (temporary), never OK from the outage cache.
    expect(burst.filter((reply) => reply === 'OK')).toHaveLength(1);
    expect(burst.filter((reply) => reply === undefined)).toHaveLength(3);
    expect(await ask()).toBe('OK');
    await daemon.stop();
    const events = daemon.records().filter((record) => record.event === 'auth');
    expect(events.filter((event) => event.cache === 'outage')).toEqual([]);
    expect(events.filter((event) => event.result === 'temporary-failure').map((event) => event.code)).toEqual(['ERR_BACKEND_BUSY', 'ERR_BACKEND_BUSY', 'ERR_BACKEND_BUSY']);
    expect(daemon.records().filter((record) => String(record.msg).startsWith('database host failed'))).toEqual([]);
  }, 30_000);
});
