/**
 * A closed-loop load generator for the mux socket: each client sends one
 * request per connection, as libsasl2 does, waits for the answer, checks
 * it, and goes again. Wrong answers are counted (a run with any is a failed
 * run); so is the generator's own CPU, to show it is not the bottleneck.
 */
import { encodeRequest } from '../src/protocol/codec.js';
import { askDaemon } from '../src/protocol/client.js';

export interface BenchUser {
  readonly login: string;
  readonly password: string;
}

export interface LoadOptions {
  readonly socketPath: string;
  readonly clients: number;
  readonly durationMs: number;
  readonly users: readonly BenchUser[];
  readonly realm: string;
  readonly service: string;
  /** Share of requests sent with a wrong password, 0..1. */
  readonly wrongShare: number;
  /**
   * repeat (default): each user's wrong password is always the same one, as a phone with an old
   * password sends it; distinct: a new one every time, as a password guesser does.
   */
  readonly wrongPasswords?: WrongPasswords;
  /** When set, requests use only the first `hotSet` users (repeat logins). */
  readonly hotSet?: number;
  /** Give up on one request after this long (counted as no reply). */
  readonly requestTimeoutMs?: number;
  /** Stop early once this says so (a fault run whose phases take as long as they take). */
  readonly until?: () => boolean;
  /** Told about every answer as it comes, e.g. to count them per phase of a fault run. */
  readonly observe?: (sample: Sample) => void;
}

export type WrongPasswords = 'repeat' | 'distinct';

export type Answer = 'OK' | 'NO' | 'none';

export interface Sample {
  /** performance.now() when the answer came. */
  readonly at: number;
  /** The request carried a wrong password. */
  readonly wrong: boolean;
  readonly answer: Answer;
  readonly ms: number;
}

export interface LoadResult {
  readonly requests: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** OK for a wrong password, or NO for a right one. */
  readonly wrongAnswers: number;
  /** Closed without an answer (temporary failure) or timed out. */
  readonly noReply: number;
  /** The generator's own CPU use, in percent of one core. */
  readonly generatorCpuPercent: number;
}

async function ask(socketPath: string, frame: Buffer, timeoutMs: number): Promise<Answer> {
  const outcome = await askDaemon(socketPath, frame, timeoutMs);
  if (outcome.kind !== 'reply' || outcome.text.length < 2) return 'none';
  return outcome.text.subarray(0, 2).toString('latin1') === 'OK' ? 'OK' : 'NO';
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const pool = options.users.slice(0, options.hotSet ?? options.users.length);
  // Frames are built up front so the loop does as little as possible.
  const frames = pool.map((user) => ({
    user,
    right: encodeRequest({ login: user.login, password: user.password, service: options.service, realm: options.realm }),
    wrong: encodeRequest({ login: user.login, password: `${user.password}-wrong`, service: options.service, realm: options.realm }),
  }));
  const latencies: number[] = [];
  let wrongAnswers = 0;
  let noReply = 0;
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + options.durationMs;
  let guesses = 0;
  const guess = (user: BenchUser) => encodeRequest({ login: user.login, password: `${user.password}-wrong-${(guesses += 1)}`, service: options.service, realm: options.realm });

  await Promise.all(
    Array.from({ length: options.clients }, async () => {
      while (performance.now() < deadline && !options.until?.()) {
        const pick = frames[Math.floor(Math.random() * frames.length)]!;
        const wrong = Math.random() < options.wrongShare;
        const t = performance.now();
        const frame = !wrong ? pick.right : options.wrongPasswords === 'distinct' ? guess(pick.user) : pick.wrong;
        const answer = await ask(options.socketPath, frame, timeoutMs);
        const now = performance.now();
        latencies.push(now - t);
        options.observe?.({ at: now, wrong, answer, ms: now - t });
        if (answer === 'none') noReply += 1;
        else if ((answer === 'OK') === wrong) wrongAnswers += 1;
      }
    }),
  );

  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: latencies.length,
    perSecond: (latencies.length * 1000) / elapsedMs,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    wrongAnswers,
    noReply,
    generatorCpuPercent: ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100,
  };
}
