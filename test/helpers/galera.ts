/**
 * A three-node MariaDB Galera cluster of our own on loopback (Debian's
 * galera-4, which comes with mariadb-server): each node a mariadbd running as
 * user mysql, with its own data directory in /tmp and its own free ports for
 * clients, group communication, IST and SST (rsync). The first node
 * bootstraps the cluster; the others join by state transfer. Nodes can be
 * killed (SIGKILL: no goodbye to the group) and started again; after the
 * cluster lost quorum, the survivor is told to form a new primary component,
 * as an administrator would.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { freePort } from './throwaway-mariadb.js';

export const GALERA_PROVIDER = '/usr/lib/galera/libgalera_smm.so';

/** What is missing for the Galera suite, as instructions. The suite fails on these: it never skips. */
export function galeraProblems(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('it must run as root (the nodes run as user mysql)');
  if (!existsSync(GALERA_PROVIDER)) problems.push(`${GALERA_PROVIDER} is missing: apt-get install galera-4`);
  if (!existsSync('/usr/bin/rsync')) problems.push('rsync is missing (state transfers use it): apt-get install rsync');
  if (spawnSync('id', ['mysql']).status !== 0) problems.push('there is no user mysql (apt-get install mariadb-server makes it)');
  return problems;
}

interface Ports {
  readonly client: number;
  readonly group: number;
  readonly ist: number;
  readonly sst: number;
}

export class GaleraNode {
  readonly index: number;
  readonly dir: string;
  readonly ports: Ports;
  #process: ChildProcess | undefined;
  #log = '';
  readonly #cluster: () => string;

  constructor(index: number, dir: string, ports: Ports, cluster: () => string) {
    this.index = index;
    this.dir = dir;
    this.ports = ports;
    this.#cluster = cluster;
  }

  get port(): number {
    return this.ports.client;
  }

  get running(): boolean {
    return this.#process !== undefined;
  }

  get log(): string {
    return this.#log;
  }

  /** Start mariadbd; `bootstrap` forms a new cluster from this node's state. Resolves once it answers as a synced node. */
  async start(bootstrap = false): Promise<void> {
    if (this.#process) return;
    const args = [
      '--no-defaults',
      `--datadir=${path.join(this.dir, 'data')}`,
      `--tmpdir=${path.join(this.dir, 'tmp')}`,
      `--socket=${path.join(this.dir, 'mysqld.sock')}`,
      `--pid-file=${path.join(this.dir, 'mysqld.pid')}`,
      `--port=${this.ports.client}`,
      '--bind-address=127.0.0.1',
      '--user=mysql',
      '--innodb-buffer-pool-size=16M',
      '--max-connections=300',
      '--binlog-format=ROW',
      '--innodb-autoinc-lock-mode=2',
      '--wsrep-on=ON',
      `--wsrep-provider=${GALERA_PROVIDER}`,
      '--wsrep-cluster-name=saslauthd-mysql-test',
      `--wsrep-node-name=node${this.index}`,
      `--wsrep-node-address=127.0.0.1:${this.ports.group}`,
      `--wsrep-cluster-address=gcomm://${this.#cluster()}`,
      `--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:${this.ports.group};ist.recv_addr=127.0.0.1:${this.ports.ist};evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;pc.weight=1`,
      `--wsrep-sst-receive-address=127.0.0.1:${this.ports.sst}`,
      '--wsrep-sst-method=rsync',
      ...(bootstrap ? ['--wsrep-new-cluster'] : []),
    ];
    const child = spawn('/usr/sbin/mariadbd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (chunk: Buffer) => (this.#log = (this.#log + chunk.toString()).slice(-8000)));
    this.#process = child;
    child.once('exit', () => {
      if (this.#process === child) this.#process = undefined;
    });
    const deadline = Date.now() + 90_000;
    while (!(await this.synced())) {
      if (!this.#process) throw new Error(`galera node ${this.index} exited during start:\n${this.#log}`);
      if (Date.now() > deadline) throw new Error(`galera node ${this.index} did not sync within 90 s:\n${this.#log}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** Whether the node answers and says it is synced with a primary component. */
  async synced(): Promise<boolean> {
    const status = await this.#wsrepStatus();
    return status?.get('wsrep_local_state_comment') === 'Synced' && status.get('wsrep_cluster_status') === 'Primary';
  }

  /** Wait until the node says it is no longer part of a primary component (it lost quorum). */
  async waitForNonPrimary(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((await this.#wsrepStatus())?.get('wsrep_cluster_status') === 'Primary') {
      if (Date.now() > deadline) throw new Error(`galera node ${this.index} still in a primary component after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async #wsrepStatus(): Promise<Map<string, string> | undefined> {
    try {
      const connection = await mysql.createConnection({ host: '127.0.0.1', port: this.ports.client, user: 'root', connectTimeout: 1000 });
      try {
        const [rows] = await connection.query("SHOW STATUS WHERE Variable_name IN ('wsrep_local_state_comment', 'wsrep_cluster_status')");
        return new Map((rows as Array<{ Variable_name: string; Value: string }>).map((row) => [row.Variable_name, row.Value]));
      } finally {
        await connection.end();
      }
    } catch {
      return undefined;
    }
  }

  /** SIGKILL: the node vanishes without leaving the group, as a crash or a pulled cable would. */
  async kill(): Promise<void> {
    const child = this.#process;
    if (!child) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
    this.#process = undefined;
  }

  /** Tell a node that lost quorum to form a primary component alone (pc.bootstrap), as an administrator does. */
  async bootstrapPrimary(): Promise<void> {
    const connection = await mysql.createConnection({ host: '127.0.0.1', port: this.ports.client, user: 'root' });
    try {
      await connection.query("SET GLOBAL wsrep_provider_options = 'pc.bootstrap=YES'");
    } finally {
      await connection.end();
    }
  }
}

export class GaleraCluster {
  readonly nodes: readonly GaleraNode[];
  readonly #root: string;

  private constructor(root: string, nodes: GaleraNode[]) {
    this.#root = root;
    this.nodes = nodes;
  }

  /** Three nodes, bootstrapped and synced. */
  static async create(size = 3): Promise<GaleraCluster> {
    const root = mkdtempSync(path.join(os.tmpdir(), 'sm-galera-'));
    chownSync(root, uidOf('mysql'), gidOf('mysql'));
    const nodes: GaleraNode[] = [];
    const cluster = new GaleraCluster(root, nodes);
    const members = () => nodes.map((node) => `127.0.0.1:${node.ports.group}`).join(',');
    for (let index = 1; index <= size; index += 1) {
      const dir = path.join(root, `node${index}`);
      for (const sub of ['', 'data', 'tmp']) mkdirSync(path.join(dir, sub), { recursive: true });
      const ports = { client: await freePort(), group: await freePort(), ist: await freePort(), sst: await freePort() };
      nodes.push(new GaleraNode(index, dir, ports, members));
    }
    spawnSync('chown', ['-R', 'mysql:mysql', root]);
    // Only the first node's data directory is made: the others receive theirs by state transfer when they join.
    const install = spawnSync('mariadb-install-db', ['--no-defaults', `--datadir=${path.join(nodes[0]!.dir, 'data')}`, '--user=mysql', '--auth-root-authentication-method=normal', '--skip-test-db'], {
      encoding: 'utf8',
      env: { ...process.env, TMPDIR: path.join(nodes[0]!.dir, 'tmp') },
    });
    if (install.status !== 0) throw new Error(`mariadb-install-db failed: ${install.stderr || install.stdout}`);
    spawnSync('chown', ['-R', 'mysql:mysql', root]);
    try {
      await nodes[0]!.start(true);
      for (const node of nodes.slice(1)) await node.start();
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
    return cluster;
  }

  /** Run SQL as root on the first running node. */
  async sql(statement: string, params: unknown[] = []): Promise<unknown> {
    const node = this.nodes.find((candidate) => candidate.running);
    if (!node) throw new Error('no galera node is running');
    const connection = await mysql.createConnection({ host: '127.0.0.1', port: node.port, user: 'root' });
    try {
      const [result] = await connection.query(statement, params);
      return result;
    } finally {
      await connection.end();
    }
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.kill()));
    rmSync(this.#root, { recursive: true, force: true });
  }
}

function uidOf(user: string): number {
  return Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
}

function gidOf(user: string): number {
  return Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout.trim());
}
