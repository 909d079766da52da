/**
 * A throwaway MariaDB server of our own: a data directory in /tmp, a free
 * port on 127.0.0.1, root with an empty password. The benchmark and the
 * tests use it, so they can stop, restart and fail over a database without
 * touching anyone else's.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';

function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin'])) {
    const candidate = path.join(dir, command);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * The ports handed out here lie below the kernel's ephemeral range: a port the kernel picked for
 * us (listen on 0) could be picked again for any outgoing connection between our closing it and
 * a server binding it, which made a server's start fail with "address already in use" now and
 * then. Each test worker (VITEST_POOL_ID) has a slice of its own, so two never pick the same.
 */
const PORT_FLOOR = 10_000;
const PORT_SLICE = 2_000;

function portSlice(): { readonly from: number; readonly to: number } {
  const [ephemeralFrom = 32_768] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const slices = Math.max(1, Math.floor((ephemeralFrom - PORT_FLOOR) / PORT_SLICE));
  const worker = Number(process.env.VITEST_POOL_ID);
  const index = (Number.isInteger(worker) && worker > 0 ? worker - 1 : process.pid) % slices;
  return { from: PORT_FLOOR + index * PORT_SLICE, to: PORT_FLOOR + (index + 1) * PORT_SLICE };
}

let nextPort: number | undefined;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A loopback port nothing listens on, that no outgoing connection will take, and that this process has not handed out before. */
export async function freePort(): Promise<number> {
  const { from, to } = portSlice();
  nextPort ??= from + Math.floor(Math.random() * (to - from));
  for (let tried = 0; tried < to - from; tried += 1) {
    const port = nextPort;
    nextPort = nextPort + 1 >= to ? from : nextPort + 1;
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port in ${from}-${to - 1}`);
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

/** Where a server runs: a command prefix (such as `ip netns exec NAME`) and the address it listens on. */
export interface ServerPlacement {
  readonly prefix: readonly string[];
  readonly host: string;
}

const ON_LOOPBACK: ServerPlacement = { prefix: [], host: '127.0.0.1' };

/** A mariadbd of our own: a data directory in /tmp, a free port, root with an empty password. */
export class ThrowawayServer {
  readonly dataDir: string;
  port: number;
  #process: ChildProcess | undefined;
  #log = '';

  readonly #extraArgs: readonly string[];
  readonly #placement: ServerPlacement;

  private constructor(dataDir: string, port: number, extraArgs: readonly string[], placement: ServerPlacement) {
    this.dataDir = dataDir;
    this.port = port;
    this.#extraArgs = extraArgs;
    this.#placement = placement;
  }

  /** The address clients reach it on (127.0.0.1 unless it runs in a network namespace). */
  get host(): string {
    return this.#placement.host;
  }

  static available(): boolean {
    return Boolean(which('mariadbd') && which('mariadb-install-db'));
  }

  /** extraArgs go to mariadbd, e.g. --ssl-cert for TLS tests; placement runs it elsewhere, e.g. in a network namespace. */
  static async create(extraArgs: readonly string[] = [], placement: ServerPlacement = ON_LOOPBACK): Promise<ThrowawayServer> {
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
    const server = new ThrowawayServer(dataDir, await freePort(), extraArgs, placement);
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

  /** The server's UNIX socket, in its data directory. */
  get socketPath(): string {
    return path.join(this.dataDir, 'mysqld.sock');
  }

  async start(): Promise<void> {
    if (this.#process) return;
    const [command, ...prefixArgs] = [...this.#placement.prefix, which('mariadbd')!];
    const child = spawn(
      command,
      [
        ...prefixArgs,
        '--no-defaults',
        `--datadir=${path.join(this.dataDir, 'data')}`,
        `--tmpdir=${path.join(this.dataDir, 'tmp')}`,
        `--socket=${this.socketPath}`,
        `--pid-file=${path.join(this.dataDir, 'mysqld.pid')}`,
        `--port=${this.port}`,
        `--bind-address=${this.#placement.host}`,
        '--user=root',
        '--skip-log-bin',
        '--innodb-buffer-pool-size=16M',
        '--max-connections=500',
        ...this.#extraArgs,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr.on('data', (chunk: Buffer) => (this.#log = (this.#log + chunk.toString()).slice(-4000)));
    this.#process = child;
    child.once('exit', () => {
      if (this.#process === child) this.#process = undefined;
    });
    await waitUntil(async () => {
      if (!this.#process) throw new Error(`mariadbd exited during start:\n${this.#log}`);
      // By its UNIX socket: it answers there wherever its TCP port is reachable from.
      return canConnect({ socketPath: this.socketPath, user: 'root' });
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
