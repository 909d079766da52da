/**
 * Worker threads for the schemes that cost milliseconds (bcrypt, argon2,
 * sha-crypt, phpass), so that a burst of them never stalls the event loop
 * or the cheap logins queued behind them. The queue is bounded: past it, a
 * login is a temporary failure, not an unbounded wait.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { PoolTask } from './pool-worker.js';
import type { ExpensiveScheme } from './schemes/expensive.js';

export interface VerifyPoolOptions {
  readonly threads: number;
  /** Verifications waiting for a thread, at most. */
  readonly maxQueue: number;
}

export type PoolOutcome = boolean | 'overloaded' | 'aborted';

/**
 * The compiled worker. Under the test runner this module is TypeScript
 * source and the worker must be the build's JavaScript twin (npm test builds first).
 */
function workerFile(): string {
  const sibling = fileURLToPath(new URL('./pool-worker.js', import.meta.url));
  if (existsSync(sibling)) return sibling;
  const built = sibling.replace(/\/src\/crypt\/pool-worker\.js$/, '/dist/crypt/pool-worker.js');
  if (existsSync(built)) return built;
  throw new Error(`verification worker not found at ${sibling} or ${built}: run "npm run build"`);
}

export class VerifyPool {
  readonly #pool: Piscina<PoolTask, boolean>;

  constructor(options: VerifyPoolOptions) {
    this.#pool = new Piscina({
      filename: workerFile(),
      minThreads: 1,
      maxThreads: options.threads,
      maxQueue: options.maxQueue,
      // Threads beyond the first are let go after a quiet minute.
      idleTimeout: 60_000,
    });
  }

  get queueSize(): number {
    return this.#pool.queueSize;
  }

  get threads(): number {
    return this.#pool.threads.length;
  }

  async run(scheme: ExpensiveScheme, password: Buffer, stored: string, signal?: AbortSignal): Promise<PoolOutcome> {
    if (this.#pool.queueSize >= this.#pool.options.maxQueue) return 'overloaded';
    // A copy goes to the worker (and is wiped there); the caller wipes its own.
    const task: PoolTask = { scheme, password: new Uint8Array(password), stored };
    try {
      return await this.#pool.run(task, signal ? { signal } : {});
    } catch (error) {
      if (signal?.aborted) return 'aborted';
      if (/queue is at limit/i.test((error as Error).message)) return 'overloaded';
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.#pool.destroy();
  }
}
