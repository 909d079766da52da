/**
 * Attack: MySQL's usual collations match "ALICE", "älice" and "alice " to the
 * row "alice". If each spelling were its own throttle key, a guesser would get
 * a fresh budget per spelling. Against the real process and a real MariaDB
 * (utf8mb4_general_ci, the test database's collation).
 */
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { SECRET_MD5CRYPT, suiteMailboxDatabase } from '../helpers/mysql.js';
import { tempDir } from '../helpers/temp.js';

const database = suiteMailboxDatabase([{ username: 'alice@example.org', password: SECRET_MD5CRYPT }]);

async function start(): Promise<{ daemon: DaemonProcess; ask: (login: string, password: string) => Promise<{ reply: string | undefined; ms: number }> }> {
  const dir = tempDir();
  const db = database();
  const conf = path.join(dir, 'db.conf');
  writeFileSync(conf, `hosts = ${db.host}:${db.port}\ndatabase = ${db.database}\nuser = ${db.user}\npassword = ${db.password}\ntable = mailbox\n`, { mode: 0o600 });
  const daemon = await spawnDaemon(['-a', 'mysql', '-O', conf, '-r', '-V', '-m', path.join(dir, 'run'), '--throttle-after', '3', '--throttle-max-delay', '600']);
  const ask = async (login: string, password: string) => {
    const started = performance.now();
    const { reply } = await exchange(path.join(dir, 'run', 'mux'), requestFrame({ login, password, service: 'smtp', realm: '' }));
    return { reply, ms: performance.now() - started };
  };
  return { daemon, ask };
}

describe('spellings a collation matches to one row', () => {
  it('share one throttle count, one cache entry and one log name: the row\'s own', async () => {
    const { daemon, ask } = await start();
    expect((await ask('ALICE@example.org', 'secret')).reply).toBe('OK');
    expect((await ask('alice@example.org', 'secret')).reply).toBe('OK');
    // A new guess each time: a repeat of one is not counted again.
    for (const [i, spelling] of ['alice@example.org', 'ALICE@example.org', 'alice@example.org '].entries()) expect((await ask(spelling, `guess-${i}`)).reply).toBe('NO authentication failed');
    const fourth = await ask('Älice@Example.org', 'guess-3');
    expect(fourth.reply).toBe('NO authentication failed');
    expect(fourth.ms).toBeGreaterThanOrEqual(120);
    await daemon.stop();
    const events = daemon.records().filter((record) => record.event === 'auth');
    expect(events.map((event) => event.user)).toEqual(Array(6).fill('alice@example.org'));
    expect(events.map((event) => event.requested)).toEqual(['ALICE@example.org', undefined, undefined, 'ALICE@example.org', 'alice@example.org ', 'Älice@Example.org']);
    // The second login found the first one's success under the row's name: no hash.
    expect(events[1]).toMatchObject({ result: 'success', cache: 'verified' });
  });

  it('a name with no row is counted under its normalised spelling', async () => {
    const { daemon, ask } = await start();
    for (const [i, spelling] of ['nobody@example.org', 'NOBODY@example.org', 'nobody@example.org '].entries()) expect((await ask(spelling, `guess-${i}`)).reply).toBe('NO authentication failed');
    const fourth = await ask('Nöbody@example.org', 'guess-3');
    expect(fourth.ms).toBeGreaterThanOrEqual(120);
    await daemon.stop();
  });
});
