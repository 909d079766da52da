/**
 * The fast lane when the native addon is loaded: md5crypt ($1$) and DES by
 * libxcrypt. Everything the addon cannot take (Apache $apr1$, a password
 * with a NUL byte, a stored value libxcrypt refuses) goes to the JavaScript
 * pool behind it, so results never depend on which engine is built.
 *
 * Where a check runs: up to `offload` at once on libuv's thread pool, and
 * any beyond that on the event loop itself. An md5crypt check costs about
 * 90 µs of C; a hand-off to a sleeping pool thread and back cost about 60 µs
 * of CPU more, on a 2-core VM. So the event loop's own core takes the checks
 * the other cores have no room for, instead of queueing them: with one
 * thread to hand off to on 2 cores, logins/s rose 16% over handing off
 * everything (docs/BENCHMARKS.md). DES costs a few microseconds in C, less
 * than any hand-off, and always runs on the event loop. Slow schemes
 * (bcrypt, sha-crypt...) never come here: they have their own lane.
 */
import type { PooledScheme } from './schemes/pooled.js';
import { isDesCrypt } from './schemes/des-crypt.js';
import { parseMd5Crypt } from './schemes/md5crypt.js';
import { canCheckNatively, type NativeCrypt } from './native-crypt.js';
import type { PoolOutcome, VerifyLane } from './verify-pool.js';

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

  async run(scheme: PooledScheme, password: Buffer, stored: string, signal?: AbortSignal): Promise<PoolOutcome> {
    if (!this.#takes(scheme, password, stored)) return this.#fallback.run(scheme, password, stored, signal);
    let verdict: boolean | null;
    if (scheme === 'des' || this.#offloaded >= this.#offload) {
      verdict = this.#binding.verifySync(password, stored);
    } else {
      this.#offloaded += 1;
      try {
        verdict = await this.#binding.verify(password, stored);
      } finally {
        this.#offloaded -= 1;
      }
    }
    return verdict ?? this.#fallback.run(scheme, password, stored, signal);
  }

  #takes(scheme: PooledScheme, password: Buffer, stored: string): boolean {
    // Only what the JavaScript parsers accept: libxcrypt is laxer about salt characters.
    // libxcrypt has no $apr1$ (Apache's md5crypt variant).
    if (scheme === 'md5crypt') return parseMd5Crypt(stored)?.magic === '$1$' && canCheckNatively(password, stored);
    return scheme === 'des' && isDesCrypt(stored) && canCheckNatively(password, stored);
  }

  close(): Promise<void> {
    return this.#fallback.close();
  }
}
