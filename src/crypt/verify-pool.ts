/**
 * Worker threads for hash schemes too slow for the event loop: one pool per
 * lane (lane.ts), each with its own bounded queue.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { Lane, LaneOutcome, VerifyLane } from './lane.js';
import type { NativeCrypt } from './native-crypt.js';
import { NativeLane, offloadFor } from './native-lane.js';
import type { PoolTask } from './pool-worker.js';
import type { CryptTask } from './schemes/crypt-strings.js';

export interface VerifyPoolOptions {
  readonly threads: number;
  /** Verifications waiting for a thread, at most. */
  readonly maxQueue: number;
  /** Threads kept even when idle: 0 starts them on first use (most tables never need the slow lane). */
  readonly minThreads?: number;
  /** The native addon is in use: the threads check sha-crypt with libxcrypt. */
  readonly native?: boolean;
}

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

/** One lane's threads and queue. */
export class VerifyPool implements VerifyLane {
  readonly #pool: Piscina<PoolTask, boolean>;
  readonly #native: boolean;

  constructor(options: VerifyPoolOptions) {
    this.#native = options.native ?? false;
    this.#pool = new Piscina({
      filename: workerFile(),
      minThreads: Math.min(options.minThreads ?? 1, options.threads),
      maxThreads: options.threads,
      maxQueue: options.maxQueue,
      // Threads beyond the first are let go after a quiet minute.
      idleTimeout: 60_000,
      // Hash work allocates little: a small young generation keeps each thread's memory down.
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
  }

  get queueSize(): number {
    return this.#pool.queueSize;
  }

  get threads(): number {
    return this.#pool.threads.length;
  }

  async run(task: CryptTask, password: Buffer, signal?: AbortSignal): Promise<LaneOutcome> {
    if (this.#pool.queueSize >= this.#pool.options.maxQueue) return 'overloaded';
    // A copy goes to the worker (and is wiped there); the caller wipes its own.
    const job: PoolTask = { task, password: new Uint8Array(password), ...(this.#native ? { native: true } : {}) };
    try {
      return await this.#pool.run(job, signal ? { signal } : {});
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

/**
 * Both lanes, sized alike. With the native addon, the fast lane is libxcrypt on
 * libuv's pool and the event loop (native-lane.ts), and its worker threads
 * start only if something needs them.
 */
export class VerifyPools {
  readonly fast: VerifyLane;
  readonly slow: VerifyPool;
  /** Who computes md5crypt and DES (and, in the slow pool's threads, sha-crypt). */
  readonly fastEngine: 'native' | 'js';

  constructor(options: VerifyPoolOptions, native?: NativeCrypt) {
    if (native) {
      const fallback = new VerifyPool({ ...options, minThreads: 0 });
      this.fast = new NativeLane(native, fallback, { offload: offloadFor(options.threads) });
    } else {
      this.fast = new VerifyPool(options);
    }
    this.fastEngine = native ? 'native' : 'js';
    this.slow = new VerifyPool({ ...options, minThreads: 0, native: native !== undefined });
  }

  lane(lane: Lane): VerifyLane {
    return lane === 'fast' ? this.fast : this.slow;
  }

  async close(): Promise<void> {
    await Promise.all([this.fast.close(), this.slow.close()]);
  }
}
