/**
 * The benchmarks' mailboxes: md5crypt users in the tests' PostfixAdmin-style
 * fixture (test/helpers/mysql.ts) on a throwaway server, readable by
 * sasl/sasl-pw. The same rows can be loaded into several servers (a primary
 * and a replica for the fault run).
 */
import { randomBytes } from 'node:crypto';
import { md5crypt } from '../src/crypt/schemes/md5crypt.js';
import type { BenchUser } from './load-generator.js';
import { seedMailboxServer, type MailboxRow, type ServerAddress } from '../test/helpers/mysql.js';

export interface BenchMailboxes {
  /** Logins (without the domain) and their passwords, for the load generator. */
  readonly users: BenchUser[];
  readonly rows: MailboxRow[];
}

export function makeBenchMailboxes(count: number): BenchMailboxes {
  const users: BenchUser[] = [];
  const rows: MailboxRow[] = [];
  for (let i = 0; i < count; i += 1) {
    const user = { login: `user${i}`, password: `pw-${i}-${randomBytes(3).toString('hex')}` };
    users.push(user);
    rows.push({ username: `${user.login}@example.org`, password: md5crypt(Buffer.from(user.password), randomBytes(6).toString('base64').replace(/[+=]/g, '.')) });
  }
  return { users, rows };
}

export function seedMailboxes(server: ServerAddress, mailboxes: BenchMailboxes): Promise<void> {
  return seedMailboxServer(server, mailboxes.rows, { user: 'sasl', password: 'sasl-pw' });
}

/** The environment that points `saslauthd-mysql -a mysql` at the seeded table (the same account seedMailboxes made). */
export function mailboxTableEnv(port: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    SASLAUTHD_MYSQL_DB_HOSTS: `127.0.0.1:${port}`,
    SASLAUTHD_MYSQL_DB_DATABASE: 'postfix',
    SASLAUTHD_MYSQL_DB_USER: 'sasl',
    SASLAUTHD_MYSQL_DB_PASSWORD: 'sasl-pw',
    SASLAUTHD_MYSQL_DB_TABLE: 'mailbox',
    SASLAUTHD_MYSQL_DB_WHERE: 'active = 1',
  };
}
