/**
 * A private redis-server (Debian's) on a free loopback port, keeping nothing
 * on disk: never the machine's own Redis. It can be stopped and started on
 * the same port (Redis down), and paused with SIGSTOP (Redis that accepts
 * but never answers: the deadline case).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterThisTest } from './cleanup.js';
import { freePort } from './throwaway-mariadb.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

/** What is missing for the Redis suites, as an instruction (they fail on it, never skip). */
export function redisProblems(): string[] {
  return existsSync(REDIS_SERVER) ? [] : [`${REDIS_SERVER} is missing: apt-get install redis-server`];
}

export class ThrowawayRedis {
  readonly port: number;
  readonly #dir: string;
  #process: ChildProcess | undefined;
  #paused = false;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.#dir = dir;
  }

  /** Started, answering, and gone again after the current test. */
  static async create(): Promise<ThrowawayRedis> {
    const redis = await ThrowawayRedis.launch();
    afterThisTest(() => redis.destroy());
    return redis;
  }

  /** Started and answering; the caller destroys it (a benchmark, outside any test). */
  static async launch(): Promise<ThrowawayRedis> {
    const redis = new ThrowawayRedis(await freePort(), mkdtempSync(path.join(os.tmpdir(), 'sm-redis-')));
    try {
      await redis.start();
    } catch (error) {
      await redis.destroy();
      throw error;
    }
    return redis;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.#process) return;
    const child = spawn(REDIS_SERVER, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.#dir, '--protected-mode', 'no'], { stdio: 'ignore' });
    this.#process = child;
    child.once('exit', () => {
      if (this.#process === child) this.#process = undefined;
    });
    const deadline = Date.now() + 10_000;
    while (!(await this.#answers())) {
      if (!this.#process) throw new Error(`redis-server on port ${this.port} exited during start`);
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    const child = this.#process;
    if (!child) return;
    if (this.#paused) this.resume();
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
    this.#process = undefined;
  }

  /** The server's process id while it runs (benchmarks read its CPU time). */
  get pid(): number | undefined {
    return this.#process?.pid;
  }

  /** SIGSTOP: connections stay open and nothing is answered. */
  pause(): void {
    if (!this.#process || this.#paused) return;
    this.#process.kill('SIGSTOP');
    this.#paused = true;
  }

  resume(): void {
    if (!this.#process || !this.#paused) return;
    this.#process.kill('SIGCONT');
    this.#paused = false;
  }

  /** A client of our own, closed after the current test. */
  client(): Redis {
    const client = this.connect();
    afterThisTest(() => client.disconnect());
    return client;
  }

  /** A client the caller disconnects. */
  connect(): Redis {
    return new Redis({ host: '127.0.0.1', port: this.port, lazyConnect: false, maxRetriesPerRequest: 1 });
  }

  async #answers(): Promise<boolean> {
    const result = spawnSync('redis-cli', ['-p', String(this.port), 'ping'], { encoding: 'utf8', timeout: 2000 });
    return result.stdout?.trim() === 'PONG';
  }
}
