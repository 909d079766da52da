/**
 * A real MySQL or MariaDB server for the tests, picked in this order, and the
 * choice said out loud:
 *   1. MYSQL_URL, an existing server: each test file gets its own database;
 *   2. testcontainers, when a Docker engine is reachable;
 *   3. a throwaway mariadbd (or mysqld) from PATH, in a temp dir on a free port.
 * When none works, the test fails with a message saying what to install.
 * Tests that stop, restart or fail over a server always get throwaway ones.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';

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

function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin'])) {
    const candidate = path.join(dir, command);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function canConnect(options: mysql.ConnectionOptions): Promise<boolean> {
  try {
    const connection = await mysql.createConnection({ ...options, connectTimeout: 1000 });
    await connection.end();
    return true;
  } catch {
    return false;
  }
}

/** A mariadbd of our own: a data directory in /tmp, a free port, root with an empty password. */
export class ThrowawayServer {
  readonly dataDir: string;
  port: number;
  #process: ChildProcess | undefined;
  #log = '';

  readonly #extraArgs: readonly string[];

  private constructor(dataDir: string, port: number, extraArgs: readonly string[]) {
    this.dataDir = dataDir;
    this.port = port;
    this.#extraArgs = extraArgs;
  }

  static available(): boolean {
    return Boolean(which('mariadbd') && which('mariadb-install-db'));
  }

  /** extraArgs go to mariadbd, e.g. --ssl-cert for TLS tests. */
  static async create(extraArgs: readonly string[] = []): Promise<ThrowawayServer> {
    const daemon = which('mariadbd');
    const installer = which('mariadb-install-db');
    if (!daemon || !installer) {
      throw new Error('no MySQL server for the tests: set MYSQL_URL, start a Docker engine, or install mariadb-server (apt-get install -y mariadb-server) for a throwaway mariadbd');
    }
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sm-db-'));
    // Each server its own tmpdir: parallel bootstraps otherwise trip over each other's temporary tables in /tmp.
    const tmpDir = path.join(dataDir, 'tmp');
    mkdirSync(tmpDir);
    const install = spawnSync(installer, ['--no-defaults', `--datadir=${path.join(dataDir, 'data')}`, `--tmpdir=${tmpDir}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'], {
      encoding: 'utf8',
      env: { ...process.env, TMPDIR: tmpDir },
    });
    if (install.status !== 0) throw new Error(`mariadb-install-db failed: ${install.stderr || install.stdout}`);
    const server = new ThrowawayServer(dataDir, await freePort(), extraArgs);
    // The free port can be taken between choosing it and binding it: try a few.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await server.start();
        return server;
      } catch (error) {
        if (attempt >= 3) throw error;
        server.port = await freePort();
      }
    }
  }

  async start(): Promise<void> {
    if (this.#process) return;
    const child = spawn(
      which('mariadbd')!,
      [
        '--no-defaults',
        `--datadir=${path.join(this.dataDir, 'data')}`,
        `--tmpdir=${path.join(this.dataDir, 'tmp')}`,
        `--socket=${path.join(this.dataDir, 'mysqld.sock')}`,
        `--pid-file=${path.join(this.dataDir, 'mysqld.pid')}`,
        `--port=${this.port}`,
        '--bind-address=127.0.0.1',
        '--user=root',
        '--skip-log-bin',
        '--innodb-buffer-pool-size=16M',
        '--max-connections=500',
        ...this.#extraArgs,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr!.on('data', (chunk: Buffer) => (this.#log = (this.#log + chunk.toString()).slice(-4000)));
    this.#process = child;
    child.once('exit', () => {
      if (this.#process === child) this.#process = undefined;
    });
    await waitUntil(async () => {
      if (!this.#process) throw new Error(`mariadbd exited during start:\n${this.#log}`);
      return canConnect({ host: '127.0.0.1', port: this.port, user: 'root' });
    }, 30_000, 'mariadbd');
  }

  /** Stop the server (SIGTERM, a clean shutdown) and wait for it to be gone. */
  async stop(): Promise<void> {
    const child = this.#process;
    if (!child) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
    this.#process = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
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

/** PostfixAdmin's mailbox and domain tables, trimmed to what authentication reads. */
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
     status INT NOT NULL DEFAULT 0
   ) DEFAULT CHARSET=utf8mb4`,
];
