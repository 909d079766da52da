/**
 * -a mysql against a real server: a PostfixAdmin-style schema with mixed
 * hash formats, and every lookup rule.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { startConfiguredDaemon } from '../helpers/daemon.js';
import { createMailboxes, insertMailboxes, mailboxEnv, testDatabase, type TestDatabase } from '../helpers/mysql.js';
import { ErrorCodes } from '../../src/errors.js';
import { hashVectors, vector } from '../helpers/vectors.js';

// Stored values made by independent implementations (see test/vectors/make-hash-vectors.sh).
const MD5CRYPT = '$1$8salt.8$Qn8gJEMYSrbUElnVsJXCQ1'; // "secret", libxcrypt
const LONG_USER = `${'l'.repeat(255 - '@example.org'.length)}@example.org`;

let db: TestDatabase;
let sha512: string;

beforeAll(async () => {
  db = await testDatabase();
  await createMailboxes(db.sql);
  await db.sql("INSERT INTO domain (domain, active) VALUES ('example.org', 1), ('closed.example', 0), ('bücher.example', 1)");
  // A fresh {SHA512-CRYPT} from doveadm is in the vectors file; take one whole line from there.
  sha512 = vector('doveadm', '{SHA512-CRYPT} rounds=6000', 'secret');
  const users: Array<[string, string | null, string, number]> = [
    ['md5@example.org', MD5CRYPT, 'example.org', 1],
    ['sha@example.org', sha512, 'example.org', 1],
    ['bcrypt@example.org', '$2y$06$7qGpUaGH16FB9cX5lmqU2OuGu0VlPTM.Ci31uw2D3skzwe6wIJNfa', 'example.org', 1],
    ['plain@example.org', '{PLAIN}secret', 'example.org', 1],
    ['ssha@example.org', '{SSHA512}t6IJkKdi+sWlQJeLTesOfpY1mo7M4S41pHbFdJFYkpB9f4cC2a9QmEo5bVA5WHLwoSJG30y+VN2BaB42lxoShJjWcNY=', 'example.org', 1],
    ['inactive@example.org', MD5CRYPT, 'example.org', 0],
    ['closed@closed.example', MD5CRYPT, 'closed.example', 1],
    ['twice@example.org', MD5CRYPT, 'example.org', 1],
    ['twice@example.org', '{PLAIN}secret', 'example.org', 1],
    ['null@example.org', null, 'example.org', 1],
    ['empty@example.org', '', 'example.org', 1],
    ["o'brien\\%_@example.org", '{PLAIN}secret', 'example.org', 1],
    ['jörg@bücher.example', '{PLAIN}secret', 'bücher.example', 1],
    [LONG_USER, '{PLAIN}secret', 'example.org', 1],
    ['abc@example.org', '{PLAIN}secret', 'example.org', 1],
  ];
  await insertMailboxes(db.sql, users.map(([username, password, domain, active]) => ({ username, password, domain, active })));
}, 60_000);

afterAll(async () => {
  await db?.close();
});

const env = (extra: Record<string, string> = {}) => mailboxEnv(db, extra);

async function ask(socketPath: string, login: string, password: string, realm = 'example.org') {
  return (await exchange(socketPath, requestFrame({ login, password, service: 'smtp', realm }))).reply;
}

describe('-a mysql -r on a PostfixAdmin table', () => {
  it('verifies every stored format, right and wrong', async () => {
    const { socketPath } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env());
    for (const user of ['md5', 'sha', 'bcrypt', 'plain', 'ssha']) {
      expect(await ask(socketPath, user, 'secret'), user).toBe('OK');
      expect(await ask(socketPath, user, 'Secret'), user).toBe('NO authentication failed');
    }
  });

  it('refuses an inactive mailbox (where active = 1), and an unknown one, with the same answer', async () => {
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env());
    expect(await ask(socketPath, 'inactive', 'secret')).toBe('NO authentication failed');
    expect(await ask(socketPath, 'nobody', 'secret')).toBe('NO authentication failed');
    expect(sink.authEvents().map((e) => e.code)).toEqual([ErrorCodes.UNKNOWN_USER, ErrorCodes.UNKNOWN_USER]);
  });

  it("honours PostfixAdmin's domain.active through a password_query join", async () => {
    const query = "SELECT m.password FROM mailbox m JOIN domain d ON d.domain = m.domain WHERE m.username = '%u' AND m.active = 1 AND d.active = 1";
    const { socketPath } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env({ SASLAUTHD_MYSQL_DB_TABLE: '', SASLAUTHD_MYSQL_DB_WHERE: '', SASLAUTHD_MYSQL_DB_PASSWORD_QUERY: query }));
    expect(await ask(socketPath, 'md5', 'secret')).toBe('OK');
    expect(await ask(socketPath, 'closed', 'secret', 'closed.example')).toBe('NO authentication failed');
  });

  it('binds %n and %d as parameters', async () => {
    const query = 'SELECT password FROM mailbox WHERE username = CONCAT(%n, \'@\', %d) AND active = 1';
    const { socketPath } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env({ SASLAUTHD_MYSQL_DB_TABLE: '', SASLAUTHD_MYSQL_DB_PASSWORD_QUERY: query }));
    expect(await ask(socketPath, 'plain', 'secret')).toBe('OK');
  });

  it('answers two rows for one name, a problem of the table, with a temporary failure logged as an error', async () => {
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env());
    expect(await ask(socketPath, 'twice', 'secret')).toBeUndefined();
    expect(sink.authEvents()[0]).toMatchObject({ result: 'temporary-failure', code: ErrorCodes.AMBIGUOUS_USER, level: 50 });
  });

  it.each([
    ['a NULL password', 'null', ErrorCodes.EMPTY_STORED_PASSWORD],
    ['an empty password', 'empty', ErrorCodes.EMPTY_STORED_PASSWORD],
  ])('refuses %s, and says why in the log', async (_name, login, code) => {
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env());
    expect(await ask(socketPath, login, 'secret')).toBe('NO authentication failed');
    expect(sink.authEvents()[0]).toMatchObject({ result: 'failure', code });
  });

  it('looks names up literally: quotes, backslashes, %, _, non-ASCII, 255 bytes', async () => {
    const { socketPath } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env());
    expect(await ask(socketPath, "o'brien\\%_", 'secret')).toBe('OK');
    expect(await ask(socketPath, 'jörg', 'secret', 'bücher.example')).toBe('OK');
    expect(await ask(socketPath, LONG_USER.split('@')[0]!, 'secret')).toBe('OK');
    // "%" and "_" are not wildcards: "a_c" and "a%" do not find "abc".
    expect(await ask(socketPath, 'a_c', 'secret')).toBe('NO authentication failed');
    expect(await ask(socketPath, 'a%', 'secret')).toBe('NO authentication failed');
    // Nor does SQL in a login name do anything but fail to match.
    expect(await ask(socketPath, "x' OR '1'='1", 'secret')).toBe('NO authentication failed');
  });

  it('turns a query that runs past its timeout into a temporary failure (no reply), and answers the next login', async () => {
    const query = 'SELECT password FROM mailbox WHERE username = %u AND SLEEP(IF(%u = \'plain@example.org\', 0, 5)) = 0';
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env({ SASLAUTHD_MYSQL_DB_TABLE: '', SASLAUTHD_MYSQL_DB_PASSWORD_QUERY: query, SASLAUTHD_MYSQL_DB_QUERY_TIMEOUT: '500' }));
    const started = Date.now();
    const slow = await exchange(socketPath, requestFrame({ login: 'md5', password: 'secret', realm: 'example.org' }));
    expect(slow.received.length).toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(sink.authEvents()[0]).toMatchObject({ result: 'temporary-failure', code: ErrorCodes.BACKEND_UNAVAILABLE });
    expect(await ask(socketPath, 'plain', 'secret')).toBe('OK');
  });

  it('turns a broken query into a temporary failure, never a NO', async () => {
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env({ SASLAUTHD_MYSQL_DB_TABLE: 'no_such_table' }));
    expect((await exchange(socketPath, requestFrame({ login: 'md5', password: 'secret', realm: 'example.org' }))).received.length).toBe(0);
    expect(sink.authEvents()[0]).toMatchObject({ result: 'temporary-failure', code: ErrorCodes.BACKEND_QUERY, level: 50 });
    // What failed, in MySQL's words, and not "backend unavailable": the server is up and said no.
    expect(String(sink.authEvents()[0]!.reason)).toMatch(/^query failed \(127\.0\.0\.1:\d+, ER_NO_SUCH_TABLE\): Table '[^']+\.no_such_table' doesn't exist$/);
  });

  it('verifies every self-describing format from the vectors file, stored in MySQL', async () => {
    const usable = hashVectors().filter(({ defaultName }) => defaultName === '-');
    await db.sql('CREATE TABLE vectors (username VARCHAR(64) PRIMARY KEY, password VARCHAR(512) NOT NULL) DEFAULT CHARSET=utf8mb4');
    for (const [index, row] of usable.entries()) await db.sql('INSERT INTO vectors VALUES (?, ?)', [`v${index}@example.org`, row.stored]);
    const { socketPath } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env({ SASLAUTHD_MYSQL_DB_TABLE: 'vectors', SASLAUTHD_MYSQL_DB_WHERE: '' }));
    for (const [index, { maker, label, password }] of usable.entries()) {
      const wrong = Buffer.from(password);
      wrong[0] = wrong[0]! ^ 0x01;
      const right = await exchange(socketPath, requestFrame({ login: `v${index}`, password, realm: 'example.org' }));
      expect(right.reply, `${maker} ${label}`).toBe('OK');
      const refused = await exchange(socketPath, requestFrame({ login: `v${index}`, password: wrong, realm: 'example.org' }));
      expect(refused.reply, `${maker} ${label}`).toBe('NO authentication failed');
    }
    expect(usable.length).toBeGreaterThan(100);
  }, 60_000);

  it('never logs the database password', async () => {
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true, logLevel: 'trace' }, env());
    await ask(socketPath, 'md5', 'secret');
    await ask(socketPath, 'twice', 'secret');
    expect(sink.raw.join('')).not.toContain(db.password);
  });
});
