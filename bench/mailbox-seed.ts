/**
 * The benchmarks' mailboxes: md5crypt users in a PostfixAdmin-style table on a
 * throwaway server, readable by sasl/sasl-pw. The same rows can be loaded into
 * several servers (a primary and a replica for the fault run).
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { md5crypt } from '../src/crypt/schemes/md5crypt.js';
import type { BenchUser } from './load-generator.js';
import type { ThrowawayServer } from '../test/helpers/throwaway-mariadb.js';

export interface BenchMailboxes {
  /** Logins (without the domain) and their passwords, for the load generator. */
  readonly users: BenchUser[];
  /** username, stored md5crypt value, domain. */
  readonly rows: string[][];
}

export function makeBenchMailboxes(count: number): BenchMailboxes {
  const users: BenchUser[] = [];
  const rows: string[][] = [];
  for (let i = 0; i < count; i += 1) {
    const user = { login: `user${i}`, password: `pw-${i}-${randomBytes(3).toString('hex')}` };
    users.push(user);
    rows.push([`${user.login}@example.org`, md5crypt(Buffer.from(user.password), randomBytes(6).toString('base64').replace(/[+=]/g, '.')), 'example.org']);
  }
  return { users, rows };
}

export async function seedMailboxes(server: ThrowawayServer, mailboxes: BenchMailboxes): Promise<void> {
  const root = await mysql.createConnection({ host: '127.0.0.1', port: server.port, user: 'root' });
  await root.query('CREATE DATABASE postfix');
  await root.query('USE postfix');
  await root.query(`CREATE TABLE mailbox (username VARCHAR(255) NOT NULL PRIMARY KEY, password VARCHAR(255) NOT NULL, domain VARCHAR(255) NOT NULL, active TINYINT(1) NOT NULL DEFAULT 1) DEFAULT CHARSET=utf8mb4`);
  for (let i = 0; i < mailboxes.rows.length; i += 500) await root.query('INSERT INTO mailbox (username, password, domain) VALUES ?', [mailboxes.rows.slice(i, i + 500)]);
  await root.query("CREATE USER 'sasl'@'%' IDENTIFIED BY 'sasl-pw'");
  await root.query("GRANT SELECT ON postfix.* TO 'sasl'@'%'");
  await root.end();
}
