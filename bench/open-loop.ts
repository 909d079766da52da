/**
 * Open-loop load: logins arrive at a fixed mean rate (Poisson arrivals, as
 * independent SMTP clients do), whether or not earlier ones were answered,
 * and each one's latency is counted from when it was due, not from when the
 * generator got round to sending it, so a stalled daemon shows its queue
 * (no coordinated omission). A closed loop of N clients cannot show that: a
 * slow answer also holds back the next request. One connection per login, as
 * libsasl2 asks.
 */
import { encodeRequest } from '../src/protocol/codec.js';
import { askDaemon } from '../src/protocol/client.js';
import type { BenchUser } from './load-generator.js';

export interface OpenLoopOptions {
  readonly socketPath: string;
  /** Mean arrivals per second. */
  readonly ratePerSecond: number;
  readonly durationMs: number;
  readonly users: readonly BenchUser[];
  readonly realm: string;
  readonly service: string;
  /** Share of logins with a wrong password (each user's always the same one). */
  readonly wrongShare: number;
  readonly requestTimeoutMs?: number;
}

export interface OpenLoopResult {
  readonly offeredPerSecond: number;
  readonly answeredPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  /** OK for a wrong password or NO for a right one. */
  readonly wrongAnswers: number;
  readonly noReply: number;
  /** The generator's own CPU, in percent of one core. */
  readonly generatorCpuPercent: number;
  /** Logins sent later than 5 ms after they were due: the generator fell behind (its figures then understate). */
  readonly lateSends: number;
}

export async function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const frames = options.users.map((user) => ({
    right: encodeRequest({ login: user.login, password: user.password, service: options.service, realm: options.realm }),
    wrong: encodeRequest({ login: user.login, password: `${user.password}-wrong`, service: options.service, realm: options.realm }),
  }));
  const latencies: number[] = [];
  let wrongAnswers = 0;
  let noReply = 0;
  let lateSends = 0;
  const inFlight = new Set<Promise<void>>();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const end = started + options.durationMs;
  let due = started;

  const send = (scheduled: number): void => {
    if (performance.now() - scheduled > 5) lateSends += 1;
    const pick = frames[Math.floor(Math.random() * frames.length)]!;
    const wrong = Math.random() < options.wrongShare;
    const pending = askDaemon(options.socketPath, wrong ? pick.wrong : pick.right, options.requestTimeoutMs ?? 15_000).then((outcome) => {
      latencies.push(performance.now() - scheduled);
      if (outcome.kind !== 'reply' || outcome.text.length < 2) noReply += 1;
      else if ((outcome.text.subarray(0, 2).toString('latin1') === 'OK') === wrong) wrongAnswers += 1;
    });
    inFlight.add(pending);
    void pending.finally(() => inFlight.delete(pending));
  };

  // Every arrival whose time has come is sent on each tick; the next tick is set for the next arrival.
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (due <= now && due < end) {
        send(due);
        due += -Math.log(1 - Math.random()) * (1000 / options.ratePerSecond);
      }
      if (due >= end) return resolve();
      setTimeout(tick, Math.max(0, due - performance.now()));
    };
    tick();
  });
  await Promise.all(inFlight);
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const sorted = Float64Array.from(latencies).sort();
  const at = (p: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!);
  return {
    offeredPerSecond: options.ratePerSecond,
    answeredPerSecond: ((latencies.length - noReply) * 1000) / options.durationMs,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    p999Ms: at(0.999),
    maxMs: sorted.length === 0 ? 0 : sorted[sorted.length - 1]!,
    wrongAnswers,
    noReply,
    generatorCpuPercent: ((cpu.user + cpu.system) / 1000 / elapsed) * 100,
    lateSends,
  };
}
