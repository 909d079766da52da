/**
 * The daemon as a real process, -a mysql -r on the benchmark's mailbox
 * database (bench/mailbox-seed.ts), in a work directory of its own: how the
 * fault runs and the multi-host run start it and stop it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitForSocket } from './wait-for-socket.js';

export interface MysqlDaemonOptions {
  readonly cli: string;
  /** SASLAUTHD_MYSQL_DB_HOSTS: the database hosts, in the order the daemon tries them. */
  readonly hosts: string;
  /** Connections per database host. */
  readonly poolSize: number;
  /** Further command-line arguments (throttle settings, --answer-timeout). */
  readonly args?: readonly string[];
  /** Further SASLAUTHD_MYSQL_* variables. */
  readonly env?: Readonly<Record<string, string>>;
  /** Keep the daemon's own log in this file (otherwise it is discarded). */
  readonly logFile?: string;
}

export interface MysqlDaemonProcess {
  readonly socketPath: string;
  readonly child: ChildProcess;
  readonly alive: boolean;
  /** SIGTERM, SIGKILL after 10 s; removes the work directory. */
  stop(): Promise<void>;
}

export async function startMysqlDaemon(options: MysqlDaemonOptions): Promise<MysqlDaemonProcess> {
  if (!existsSync(options.cli)) throw new Error(`${options.cli} is missing: run "npm run build"`);
  const work = mkdtempSync(path.join(os.tmpdir(), 'sm-daemon-'));
  const socketPath = path.join(work, 'mux');
  const logFd = options.logFile ? openSync(options.logFile, 'w') : undefined;
  const child = spawn(process.execPath, [options.cli, '-a', 'mysql', '-r', '-m', work, ...(options.args ?? [])], {
    stdio: ['ignore', logFd ?? 'ignore', logFd ?? 'ignore'],
    env: {
      ...process.env,
      SASLAUTHD_MYSQL_DB_HOSTS: options.hosts,
      SASLAUTHD_MYSQL_DB_DATABASE: 'postfix',
      SASLAUTHD_MYSQL_DB_USER: 'sasl',
      SASLAUTHD_MYSQL_DB_PASSWORD: 'sasl-pw',
      SASLAUTHD_MYSQL_DB_TABLE: 'mailbox',
      SASLAUTHD_MYSQL_DB_WHERE: 'active = 1',
      SASLAUTHD_MYSQL_DB_CONNECT_TIMEOUT: '1000',
      SASLAUTHD_MYSQL_DB_QUERY_TIMEOUT: '1000',
      SASLAUTHD_MYSQL_DB_RETRY_AFTER: '1000',
      SASLAUTHD_MYSQL_DB_POOL_SIZE: String(options.poolSize),
      ...options.env,
    },
  });
  const stop = async () => {
    await stopProcess(child);
    rmSync(work, { recursive: true, force: true });
  };
  try {
    await waitForSocket(socketPath, child);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    socketPath,
    child,
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    stop,
  };
}

function stopProcess(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
