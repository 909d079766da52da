/**
 * Worker threads for hash schemes too slow for the event loop: one pool per
 * lane (lane.ts), each with its own bounded queue.
 *
 * The queue is ours, in front of piscina, which only ever gets as many tasks
 * as there are threads. A check whose client went away is dropped while it
 * waits; one already running is left to finish (its verdict is thrown away
 * by the caller). Stopping it would mean terminating its thread, and a thread
 * inside native code (libxcrypt, argon2) cannot stop before that code
 * returns: a replacement would start beside it, and the threads would
 * outnumber --verify-threads. The cost ceilings bound how long that is.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import type { Lane, LaneOutcome, VerifyLane } from './lane.js';
import type { NativeCrypt } from './native-crypt.js';
import { NativeLane, offloadFor } from './native-lane.js';
import type { GenerateTask, PoolTask } from './pool-worker.js';
import type { CryptTask, GeneratedCryptScheme, GenerateOptions } from './schemes/crypt-strings.js';

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
interface Waiting {
  /** Called when a thread is free for it (already counted as running). */
  readonly start: () => void;
}

type Threads = Piscina<PoolTask | GenerateTask, boolean | string>;

export class VerifyPool implements VerifyLane {
  /**
   * Made at the first task when no thread is kept at rest: piscina weighs
   * megabytes even with no thread, and with the native addon most tables
   * never need this lane.
   */
  #pool: Threads | undefined;
  readonly #makePool: () => Threads;
  readonly #native: boolean;
  readonly #threads: number;
  readonly #maxQueue: number;
  readonly #waiting: Waiting[] = [];
  #running = 0;

  constructor(options: VerifyPoolOptions) {
    this.#native = options.native ?? false;
    this.#threads = options.threads;
    this.#maxQueue = options.maxQueue;
    const filename = workerFile();
    const minThreads = Math.min(options.minThreads ?? 1, options.threads);
    this.#makePool = () => new (createRequire(import.meta.url)('piscina') as { Piscina: typeof Piscina }).Piscina({
      filename,
      minThreads,
      maxThreads: options.threads,
      // Our queue is in front (run): piscina holds a task only while its thread starts.
      maxQueue: options.threads,
      // Threads beyond the first are let go after a quiet minute.
      idleTimeout: 60_000,
      // Hash work allocates little: a small young generation keeps each thread's memory down.
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    if (minThreads > 0) this.#pool = this.#makePool();
  }

  #threadsPool(): Threads {
    this.#pool ??= this.#makePool();
    return this.#pool;
  }

  get queueSize(): number {
    return this.#waiting.length;
  }

  get threads(): number {
    return this.#pool?.threads.length ?? 0;
  }

  async run(task: CryptTask, password: Buffer, signal?: AbortSignal): Promise<LaneOutcome> {
    if (this.#running < this.#threads) {
      this.#running += 1;
    } else {
      if (this.#waiting.length >= this.#maxQueue) return 'overloaded';
      if (signal?.aborted || !(await this.#waitForThread(signal))) return 'aborted';
    }
    // A copy goes to the worker (and is wiped there); the caller wipes its own.
    const job: PoolTask = { task, password: new Uint8Array(password), ...(this.#native ? { native: true } : {}) };
    try {
      // No signal to piscina: a running check is never cut short (see the top of this file).
      return (await this.#threadsPool().run(job)) as boolean;
    } finally {
      const next = this.#waiting.shift();
      if (next) next.start();
      else this.#running -= 1;
    }
  }

  /**
   * A new stored value, computed on a thread, only if one is free now: work
   * that can wait (re-hashing on login) never queues in front of a login.
   * Undefined when every thread is busy.
   */
  async generate(scheme: GeneratedCryptScheme, password: Buffer, options: GenerateOptions): Promise<string | undefined> {
    if (this.#running >= this.#threads || this.#waiting.length > 0) return undefined;
    this.#running += 1;
    try {
      return (await this.#threadsPool().run({ scheme, options, password: new Uint8Array(password) } satisfies GenerateTask, { name: 'generate' })) as string;
    } finally {
      const next = this.#waiting.shift();
      if (next) next.start();
      else this.#running -= 1;
    }
  }

  /** True once a thread is free for this check; false if the caller stops waiting first. */
  #waitForThread(signal: AbortSignal | undefined): Promise<boolean> {
    return new Promise((resolve) => {
      const entry: Waiting = {
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(true);
        },
      };
      const onAbort = (): void => {
        const at = this.#waiting.indexOf(entry);
        if (at >= 0) this.#waiting.splice(at, 1);
        resolve(false);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(entry);
    });
  }

  async close(): Promise<void> {
    await this.#pool?.destroy();
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
      const fallback = new VerifyPool(Object.assign({}, options, { minThreads: 0 }));
      this.fast = new NativeLane(native, fallback, { offload: offloadFor(options.threads) });
    } else {
      this.fast = new VerifyPool(options);
    }
    this.fastEngine = native ? 'native' : 'js';
    this.slow = new VerifyPool(Object.assign({}, options, { minThreads: 0, native: native !== undefined }));
  }

  lane(lane: Lane): VerifyLane {
    return lane === 'fast' ? this.fast : this.slow;
  }

  async close(): Promise<void> {
    await Promise.all([this.fast.close(), this.slow.close()]);
  }
}
