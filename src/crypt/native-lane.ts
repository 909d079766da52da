/**
 * The fast lane when the native addon is loaded: md5crypt ($1$) and DES by
 * libxcrypt. Everything the addon cannot take (Apache $apr1$, a password
 * with a NUL byte, a stored value libxcrypt refuses) goes to the JavaScript
 * pool behind it, so results never depend on which engine is built.
 *
 * Where a check runs: up to `offload` at once on libuv's thread pool, and
 * any beyond that on the event loop itself. A hand-off to a sleeping pool
 * thread and back costs CPU of the same order as an md5crypt check in C, so
 * the event loop's own core takes the checks the other cores have no room
 * for, instead of queueing them (docs/BENCHMARKS.md measures both ways). DES
 * in C costs less than any hand-off, and always runs on the event loop. Slow schemes
 * (bcrypt, sha-crypt...) never come here: they have their own lane.
 */
import type { LaneOutcome, VerifyLane } from './lane.js';
import { canCheckNatively, type NativeCrypt } from './native-crypt.js';
import type { CryptTask } from './schemes/crypt-strings.js';

export interface NativeLaneOptions {
  /** Checks on libuv's pool at once; 0 runs every check on the event loop. libuv's pool is shared with fs and dns. */
  readonly offload: number;
}

/** libuv starts this many pool threads unless UV_THREADPOOL_SIZE says otherwise. */
export function libuvPoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const configured = Number(env.UV_THREADPOOL_SIZE);
  return Number.isInteger(configured) && configured > 0 ? Math.min(configured, 1024) : 4;
}

/**
 * Pool threads for `threads` cores: one core is the event loop's, which computes checks too;
 * one libuv thread stays free for fs and dns.
 */
export function offloadFor(threads: number, env: NodeJS.ProcessEnv = process.env): number {
  return Math.max(1, Math.min(threads - 1, libuvPoolSize(env) - 1));
}

export class NativeLane implements VerifyLane {
  readonly #binding: NativeCrypt;
  readonly #fallback: VerifyLane;
  readonly #offload: number;
  #offloaded = 0;

  constructor(binding: NativeCrypt, fallback: VerifyLane, options: NativeLaneOptions) {
    this.#binding = binding;
    this.#fallback = fallback;
    this.#offload = options.offload;
  }

  /** Nothing waits here: a check either runs on the pool or at once on the event loop. */
  get queueSize(): number {
    return this.#fallback.queueSize;
  }

  /** Checks running on libuv's pool now. */
  get offloaded(): number {
    return this.#offloaded;
  }

  async run(task: CryptTask, password: Buffer, signal?: AbortSignal): Promise<LaneOutcome> {
    if (!this.#takes(task, password)) return this.#fallback.run(task, password, signal);
    let verdict: boolean | null;
    if (task.kind === 'des' || this.#offloaded >= this.#offload) {
      verdict = this.#binding.verifySync(password, task.stored);
    } else {
      this.#offloaded += 1;
      try {
        verdict = await this.#binding.verify(password, task.stored);
      } finally {
        this.#offloaded -= 1;
      }
    }
    return verdict ?? this.#fallback.run(task, password, signal);
  }

  /** Tasks come parsed by the JavaScript parsers, which are stricter than libxcrypt about salt characters. */
  #takes(task: CryptTask, password: Buffer): boolean {
    // libxcrypt has no $apr1$ (Apache's md5crypt variant).
    if (task.kind === 'md5crypt') return task.parsed.magic === '$1$' && canCheckNatively(password, task.stored);
    return task.kind === 'des' && canCheckNatively(password, task.stored);
  }

  close(): Promise<void> {
    return this.#fallback.close();
  }
}
