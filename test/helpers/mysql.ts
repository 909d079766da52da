/**
 * A real MySQL or MariaDB server for the tests, picked in this order, and the
 * choice said out loud:
 *   1. MYSQL_URL, an existing server: each test file gets its own database;
 *   2. testcontainers, when a Docker engine is reachable;
 *   3. a throwaway mariadbd (or mysqld) from PATH, in a temp dir on a free port.
 * When none works, the test fails with a message saying what to install.
 * Tests that stop, restart or fail over a server always get throwaway ones.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll } from 'vitest';
import { ThrowawayServer } from './throwaway-mariadb.js';

export { ThrowawayServer, freePort } from './throwaway-mariadb.js';

export interface TestDatabase {
  /** How this server was obtained, for the test log. */
  readonly kind: 'MYSQL_URL' | 'testcontainers' | 'throwaway mariadbd';
  readonly host: string;
  readonly port: number;
  /** An account with every right on `database`. */
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** Run SQL as the administrative account, in `database`. */
  sql(statement: string, params?: unknown[]): Promise<unknown>;
  close(): Promise<void>;
}

async function databaseOn(kind: TestDatabase['kind'], admin: mysql.ConnectionOptions, cleanup: () => Promise<void>): Promise<TestDatabase> {
  const database = `sm_test_${randomBytes(4).toString('hex')}`;
  const user = `sm_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('base64url');
  const root = await mysql.createConnection({ ...admin, multipleStatements: false });
  await root.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
  await root.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
  await root.query(`GRANT SELECT ON \`${database}\`.* TO '${user}'@'%'`);
  await root.query(`USE \`${database}\``);
  return {
    kind,
    host: String(admin.host ?? '127.0.0.1'),
    port: Number(admin.port ?? 3306),
    user,
    password,
    database,
    async sql(statement, params = []) {
      const [result] = await root.query(statement, params);
      return result;
    },
    async close() {
      await root.query(`DROP DATABASE IF EXISTS \`${database}\``).catch(() => undefined);
      await root.query(`DROP USER IF EXISTS '${user}'@'%'`).catch(() => undefined);
      await root.end().catch(() => undefined);
      await cleanup();
    },
  };
}

function dockerReachable(): boolean {
  const socket = process.env.DOCKER_HOST?.replace(/^unix:\/\//, '') ?? '/var/run/docker.sock';
  if (!existsSync(socket)) return false;
  return spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 5000 }).status === 0;
}

/** A database of its own for one test file, on the first kind of server that works. */
export async function testDatabase(): Promise<TestDatabase> {
  if (process.env.MYSQL_URL) {
    const url = new URL(process.env.MYSQL_URL);
    const admin = { host: url.hostname, port: Number(url.port || 3306), user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
    announce('MYSQL_URL', `${url.hostname}:${admin.port}`);
    return databaseOn('MYSQL_URL', admin, async () => undefined);
  }
  if (dockerReachable()) {
    const { MySqlContainer } = await import('@testcontainers/mysql');
    const container = await new MySqlContainer('mysql:8.4').start();
    announce('testcontainers', `${container.getHost()}:${container.getPort()}`);
    return databaseOn('testcontainers', { host: container.getHost(), port: container.getPort(), user: 'root', password: container.getRootPassword() }, async () => {
      await container.stop();
    });
  }
  const server = await ThrowawayServer.create();
  announce('throwaway mariadbd', `127.0.0.1:${server.port}`);
  return databaseOn('throwaway mariadbd', { host: '127.0.0.1', port: server.port, user: 'root' }, () => server.destroy());
}

function announce(kind: string, where: string): void {
  process.stderr.write(`[test database] using ${kind} at ${where}\n`);
}

/**
 * PostfixAdmin's mailbox and domain tables, trimmed to what authentication
 * reads. username is indexed but not unique, so a test can store a name twice
 * (an ambiguous user must be refused).
 */
export const POSTFIXADMIN_SCHEMA = [
  `CREATE TABLE domain (
     domain VARCHAR(255) NOT NULL PRIMARY KEY,
     active TINYINT(1) NOT NULL DEFAULT 1
   ) DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE mailbox (
     username VARCHAR(255) NOT NULL,
     password VARCHAR(255) NULL,
     name VARCHAR(255) NOT NULL DEFAULT '',
     domain VARCHAR(255) NOT NULL,
     active TINYINT(1) NOT NULL DEFAULT 1,
     status INT NOT NULL DEFAULT 0,
     KEY (username)
   ) DEFAULT CHARSET=utf8mb4`,
];

export interface MailboxRow {
  readonly username: string;
  readonly password: string | null;
  /** Default: the part after the last "@", or example.org. */
  readonly domain?: string;
  readonly active?: number;
  readonly status?: number;
}

type RunSql = (statement: string, params?: unknown[]) => Promise<unknown>;

/** Add mailboxes, many to a statement (the benchmark seeds thousands). */
export async function insertMailboxes(sql: RunSql, rows: readonly MailboxRow[]): Promise<void> {
  const values = rows.map((row) => [row.username, row.password, row.domain ?? (row.username.includes('@') ? row.username.slice(row.username.lastIndexOf('@') + 1) : 'example.org'), row.active ?? 1, row.status ?? 0]);
  for (let i = 0; i < values.length; i += 500) await sql('INSERT INTO mailbox (username, password, domain, active, status) VALUES ?', [values.slice(i, i + 500)]);
}

/** The shared fixture: PostfixAdmin's tables in the current database, with these mailboxes. */
export async function createMailboxes(sql: RunSql, rows: readonly MailboxRow[] = []): Promise<void> {
  for (const statement of POSTFIXADMIN_SCHEMA) await sql(statement);
  await insertMailboxes(sql, rows);
}

/** A server of ours: its TCP port on loopback, or its UNIX socket where it has one (it may listen elsewhere). */
export interface ServerAddress {
  readonly port: number;
  readonly socketPath?: string;
}

/** How root reaches a server of ours. */
export function rootTarget(server: ServerAddress): { socketPath: string } | { host: string; port: number } {
  return server.socketPath ? { socketPath: server.socketPath } : { host: '127.0.0.1', port: server.port };
}

/**
 * On a throwaway server: database "postfix" with the shared fixture and these
 * mailboxes, readable by `user`/`password` (and by nobody else).
 */
export async function seedMailboxServer(server: ServerAddress, rows: readonly MailboxRow[], account: { user: string; password: string; requireSsl?: boolean }): Promise<void> {
  const root = await mysql.createConnection({ ...rootTarget(server), user: 'root' });
  const sql: RunSql = (statement, params) => root.query(statement, params);
  await sql('CREATE DATABASE postfix');
  await sql('USE postfix');
  await createMailboxes(sql, rows);
  await sql(`CREATE USER ?@'%' IDENTIFIED BY ?${account.requireSsl ? ' REQUIRE SSL' : ''}`, [account.user, account.password]);
  await sql(`GRANT SELECT ON postfix.* TO ?@'%'`, [account.user]);
  await root.end();
}

/** "secret" as md5crypt, made by libxcrypt: the password of the suites' usual mailbox. */
export const SECRET_MD5CRYPT = '$1$8salt.8$Qn8gJEMYSrbUElnVsJXCQ1';

/**
 * For a test file: a test database with the shared fixture and these mailboxes,
 * made before its tests and dropped after. The returned function gives it to a test.
 */
export function suiteMailboxDatabase(rows: readonly MailboxRow[]): () => TestDatabase {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await testDatabase();
    await createMailboxes(db.sql, rows);
  }, 60_000);
  afterAll(async () => {
    await db?.close();
  });
  return () => {
    if (!db) throw new Error('the suite database is made in beforeAll: use it inside a test');
    return db;
  };
}

/** The SASLAUTHD_MYSQL_DB_* variables for -a mysql against a test database's mailbox table. */
export function mailboxEnv(db: TestDatabase, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SASLAUTHD_MYSQL_DB_HOSTS: `${db.host}:${db.port}`,
    SASLAUTHD_MYSQL_DB_DATABASE: db.database,
    SASLAUTHD_MYSQL_DB_USER: db.user,
    SASLAUTHD_MYSQL_DB_PASSWORD: db.password,
    SASLAUTHD_MYSQL_DB_TABLE: 'mailbox',
    SASLAUTHD_MYSQL_DB_WHERE: 'active = 1',
    ...extra,
  };
}
