/**
 * The soak: the daemon (the real process, -a mysql on a throwaway MariaDB,
 * its throttle shared through a throwaway Redis) under mixed load on both
 * listeners for minutes, while the database restarts, Redis restarts and
 * SIGHUP reloads it along the way.
 *
 *   mux socket       clients of right passwords, two of wrong ones (a phone's
 *                    old password, always the same) and unknown users, one
 *                    request per connection as libsasl2 sends; a guesser with
 *                    a new password each time; clients that hang up halfway
 *                    through a request or before the answer
 *   Dovecot socket   long-lived connections with logins pipelined by id
 *                    (PLAIN, PLAIN after a CONT, LOGIN): right passwords in
 *                    every lane but one, wrong and unknown users in that one,
 *                    each lane from a client address (rip) of its own; clients
 *                    that hang up after AUTH or mid-line
 *
 * Every interval it samples the daemon: RSS and open descriptors from /proc,
 * heap used and active handles from its own metrics, its database
 * connections (PROCESSLIST) and its Redis connections (CLIENT LIST by name).
 * It fails on any wrong answer (OK for a wrong or unknown user, NO for a
 * right password, an OK naming another user), on a right login left without
 * an answer outside the faults, on a dead daemon, and on any figure that
 * keeps growing after the warm-up (the last samples against the first).
 *
 * Used by `npm run soak` (figures for docs/BENCHMARKS.md) and, for two
 * minutes, by test/integration/soak.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { encodeRequest } from '../src/protocol/codec.js';
import { askDaemon } from '../src/protocol/client.js';
import { ThrowawayServer, freePort } from '../test/helpers/throwaway-mariadb.js';
import { ThrowawayRedis } from '../test/helpers/throwaway-redis.js';
import { DovecotLoadConnection, type DovecotMechanism } from './dovecot-load-client.js';
import { daemonConnections } from './fault-run.js';
import { makeBenchMailboxes, seedMailboxes } from './mailbox-seed.js';
import { startMysqlDaemon, type MysqlDaemonProcess } from './mysql-daemon-process.js';
import type { BenchUser } from './load-generator.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const POOL_SIZE = 4;
const REALM = 'example.org';
/** Longer than the daemon's answer deadline (10 s) plus its longest throttle delay: a request given up on is one the daemon never answered. */
const REQUEST_TIMEOUT_MS = 15_000;
/** After a fault ends, answers may still be the fault's for this long (a reconnect, a retry_after). */
const FAULT_TAIL_MS = 5_000;
const MIB = 1024 * 1024;

export interface SoakOptions {
  readonly durationMs: number;
  readonly sampleMs: number;
  /** Samples before this are warm-up: not judged for growth. */
  readonly warmupMs: number;
  readonly users: number;
  /** Closed-loop mux clients (one request per connection each). */
  readonly muxClients: number;
  /** Dovecot connections, each with `pipelined` logins in flight. */
  readonly dovecotConnections: number;
  readonly pipelined: number;
  readonly cli?: string;
  readonly log?: (line: string) => void;
  readonly daemonLogFile?: string;
}

/** One interval's figures. */
export interface SoakSample {
  readonly atMs: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly fds: number;
  readonly handles: number;
  readonly dbConnections: number;
  readonly redisConnections: number;
  /** Answers in the interval, by listener. */
  readonly mux: number;
  readonly dovecot: number;
  /** Requests without an answer in the interval (all kinds, hang-ups excluded). */
  readonly noReply: number;
  /** What happened in the interval: reload, database restart, Redis restart. */
  readonly events: string;
}

export interface SoakReport {
  readonly samples: SoakSample[];
  readonly warmupSamples: number;
  readonly answers: { readonly mux: number; readonly dovecot: number; readonly hangUps: number; readonly reloads: number };
  /** Every wrong answer, described (at most a few kept). */
  readonly wrongAnswers: number;
  readonly wrongExamples: string[];
  /** Right logins left without an answer outside the faults. */
  readonly rightUnansweredOutsideFaults: number;
  readonly faults: { readonly name: string; readonly fromMs: number; readonly toMs: number }[];
  readonly daemonAlive: boolean;
  readonly afterStop: { readonly dbConnections: number; readonly redisConnections: number };
}

type Kind = 'right' | 'wrong' | 'unknown' | 'guess';

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => undefined);
  const work = mkdtempSync(path.join(os.tmpdir(), 'sm-soak-'));
  const [database, redis] = await Promise.all([ThrowawayServer.create(), ThrowawayRedis.launch()]);
  let daemon: MysqlDaemonProcess | undefined;
  const counter = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 200 });
  counter.on('error', () => undefined);
  try {
    const mailboxes = makeBenchMailboxes(options.users);
    await seedMailboxes(database, mailboxes);
    const keyFile = path.join(work, 'throttle.key');
    writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
    const dovecotPath = path.join(work, 'auth');
    const metricsPort = await freePort();
    daemon = await startMysqlDaemon({
      cli: options.cli ?? CLI,
      hosts: `127.0.0.1:${database.port}`,
      poolSize: POOL_SIZE,
      args: ['--dovecot-socket', dovecotPath, '--throttle-store', redis.url, '--throttle-store-key-file', keyFile, '--metrics-port', String(metricsPort)],
      ...(options.daemonLogFile ? { logFile: options.daemonLogFile } : {}),
    });
    const pid = daemon.child.pid!;
    await counter.connect();

    const users = splitUsers(mailboxes.users);
    const started = performance.now();
    const now = () => performance.now() - started;
    const faults: { name: string; fromMs: number; toMs: number }[] = [];
    /** Restarts under way, and those done: a right login that overlapped one may go unanswered. */
    const ongoing = new Set<string>();
    const inFault = (fromMs: number, toMs: number) => ongoing.size > 0 || faults.some((fault) => fromMs <= fault.toMs + FAULT_TAIL_MS && toMs >= fault.fromMs);
    const tally = { mux: 0, dovecot: 0, noReply: 0, hangUps: 0, reloads: 0, wrong: 0, rightUnanswered: 0 };
    const interval = { mux: 0, dovecot: 0, noReply: 0, events: [] as string[] };
    const wrongExamples: string[] = [];
    const wrongAnswer = (what: string) => {
      tally.wrong += 1;
      if (wrongExamples.length < 5) wrongExamples.push(what);
    };
    const unanswered = (kind: Kind, fromMs: number) => {
      tally.noReply += 1;
      interval.noReply += 1;
      if (kind === 'right' && !inFault(fromMs, now())) tally.rightUnanswered += 1;
    };
    let stopping = false;
    const running = () => !stopping;

    // The mux socket: one request per connection.
    const muxClient = async (pick: () => { kind: Kind; user: BenchUser; password: string }) => {
      while (running()) {
        const { kind, user, password } = pick();
        const from = now();
        const outcome = await askDaemon(daemon!.socketPath, encodeRequest({ login: user.login, password, service: 'smtp', realm: REALM }), REQUEST_TIMEOUT_MS);
        tally.mux += 1;
        interval.mux += 1;
        if (outcome.kind !== 'reply' || outcome.text.length < 2) unanswered(kind, from);
        else if ((outcome.text.subarray(0, 2).toString('latin1') === 'OK') !== (kind === 'right')) wrongAnswer(`mux ${kind} ${user.login}: ${outcome.text.toString('latin1')}`);
      }
    };
    let guesses = 0;
    const right = () => pick('right', users);
    const stale = () => pick(Math.random() < 0.6 ? 'wrong' : 'unknown', users);
    const guess = () => {
      const user = users.guessed[guesses % users.guessed.length]!;
      guesses += 1;
      return { kind: 'guess' as const, user, password: `guess-${guesses}` };
    };

    // The Dovecot socket: long-lived connections, logins pipelined on each; a closed one is opened again.
    const mechanisms: DovecotMechanism[] = ['PLAIN', 'PLAIN-CONT', 'LOGIN'];
    const dovecotClient = async (index: number) => {
      while (running()) {
        let connection: DovecotLoadConnection;
        try {
          connection = await DovecotLoadConnection.open(dovecotPath, REQUEST_TIMEOUT_MS);
        } catch {
          await sleep(200);
          continue;
        }
        // Right logins in every lane but one, each lane its own client address; the last lane's wrong and unknown users from addresses of their own.
        await Promise.all(
          Array.from({ length: options.pipelined + 1 }, async (_, lane) => {
            const staleLane = lane === options.pipelined;
            const rip = staleLane ? `203.0.113.${1 + (index % 250)}` : `198.51.100.${1 + ((index * options.pipelined + lane) % 250)}`;
            while (running() && !connection.closed) {
              const { kind, user, password } = staleLane ? stale() : right();
              const from = now();
              const login = `${user.login}@${REALM}`;
              const outcome = await connection.login({ mechanism: mechanisms[(index + lane + tally.dovecot) % mechanisms.length]!, user: login, password, rip }, REQUEST_TIMEOUT_MS);
              tally.dovecot += 1;
              interval.dovecot += 1;
              if (outcome.kind === 'none') unanswered(kind, from);
              else if ((outcome.kind === 'ok') !== (kind === 'right')) wrongAnswer(`dovecot ${kind} ${login}: ${outcome.kind}`);
              else if (outcome.kind === 'ok' && outcome.user !== login) wrongAnswer(`dovecot ${login}: OK naming ${outcome.user}`);
            }
          }),
        );
        connection.close();
      }
    };

    // Clients that hang up: halfway through a request, or once it is sent; on both sockets.
    const hangUps = async () => {
      const frame = encodeRequest({ login: users.right[0]!.login, password: users.right[0]!.password, service: 'smtp', realm: REALM });
      const plain = Buffer.from(`\0${users.right[0]!.login}@${REALM}\0${users.right[0]!.password}`).toString('base64');
      const ways = [
        () => hangUp({ path: daemon!.socketPath }, frame.subarray(0, 7)),
        () => hangUp({ path: daemon!.socketPath }, frame),
        () => hangUp({ path: dovecotPath }, Buffer.from(`VERSION\t1\t0\nCPID\t9\nAUTH\t1\tPLAIN\tservice=smtp\tresp=${plain}\n`)),
        () => hangUp({ path: dovecotPath }, Buffer.from('VERSION\t1\t0\nCPID\t9\nAUTH\t1\tPLA')),
      ];
      for (let i = 0; running(); i += 1) {
        await ways[i % ways.length]!();
        tally.hangUps += 1;
        await sleep(100);
      }
    };

    // Faults along the way: SIGHUP reloads through the whole run, the database restarted at a third, Redis at two thirds.
    const fault = async (name: string, down: () => Promise<void>, up: () => Promise<void>) => {
      const from = now();
      ongoing.add(name);
      interval.events.push(`${name} restart`);
      log(`  ${(from / 1000).toFixed(0)} s: ${name} stopped`);
      await down();
      await sleep(3000);
      await up();
      const to = now();
      faults.push({ name, fromMs: from, toMs: to });
      ongoing.delete(name);
      log(`  ${(to / 1000).toFixed(0)} s: ${name} back (${((to - from) / 1000).toFixed(1)} s down)`);
    };
    const faultsDone = (async () => {
      await sleepUnless(options.durationMs / 3, running);
      if (running()) await fault('MariaDB', () => database.stop(), () => database.start());
      await sleepUnless((options.durationMs * 2) / 3 - now(), running);
      if (running()) await fault('Redis', () => redis.stop(), () => redis.start());
    })();
    const reloads = (async () => {
      for (await sleepUnless(options.sampleMs / 2, running); running(); await sleepUnless(options.sampleMs, running)) {
        daemon.child.kill('SIGHUP');
        tally.reloads += 1;
        interval.events.push('reload');
      }
    })();

    const load = Promise.all([
      ...Array.from({ length: options.muxClients }, () => muxClient(right)),
      muxClient(stale),
      muxClient(stale),
      muxClient(guess),
      ...Array.from({ length: options.dovecotConnections }, (_, index) => dovecotClient(index)),
      hangUps(),
    ]);

    const samples: SoakSample[] = [];
    log(`${'min:s'.padStart(6)} ${'RSS MiB'.padStart(8)} ${'heap MiB'.padStart(9)} ${'fds'.padStart(5)} ${'handles'.padStart(8)} ${'db conns'.padStart(9)} ${'redis conns'.padStart(12)} ${'mux/s'.padStart(7)} ${'dovecot/s'.padStart(10)} ${'no reply'.padStart(9)}  events`);
    while (now() < options.durationMs) {
      await sleep(Math.min(options.sampleMs, options.durationMs - now()));
      const sample = await takeSample(pid, metricsPort, database, counter, now(), interval);
      samples.push(sample);
      log(
        `${clock(sample.atMs).padStart(6)} ${(sample.rssBytes / MIB).toFixed(1).padStart(8)} ${(sample.heapUsedBytes / MIB).toFixed(1).padStart(9)} ${String(sample.fds).padStart(5)} ${String(sample.handles).padStart(8)} ${String(sample.dbConnections).padStart(9)} ${String(sample.redisConnections).padStart(12)} ${((sample.mux * 1000) / options.sampleMs).toFixed(0).padStart(7)} ${((sample.dovecot * 1000) / options.sampleMs).toFixed(0).padStart(10)} ${String(sample.noReply).padStart(9)}  ${sample.events}`,
      );
      Object.assign(interval, { mux: 0, dovecot: 0, noReply: 0, events: [] });
    }
    stopping = true;
    await Promise.all([load, faultsDone, reloads]);

    const daemonAlive = daemon.alive;
    await daemon.stop();
    await sleep(500);
    const afterStop = { dbConnections: await daemonConnections(database), redisConnections: await daemonRedisConnections(counter) };
    return {
      samples,
      warmupSamples: samples.filter((sample) => sample.atMs <= options.warmupMs).length,
      answers: { mux: tally.mux, dovecot: tally.dovecot, hangUps: tally.hangUps, reloads: tally.reloads },
      wrongAnswers: tally.wrong,
      wrongExamples,
      rightUnansweredOutsideFaults: tally.rightUnanswered,
      faults,
      daemonAlive,
      afterStop,
    };
  } finally {
    counter.disconnect();
    await daemon?.stop();
    await Promise.all([database.destroy(), redis.destroy()]);
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The users split by what their clients send: most the right password, some
 * a phone's old password (always the same wrong one), a few names the table
 * does not hold; and a few of the wrong-password users also guessed at with
 * a new password each time.
 */
function splitUsers(all: readonly BenchUser[]) {
  const wrongFrom = Math.floor(all.length * 0.8);
  const wrong = all.slice(wrongFrom);
  return {
    right: all.slice(0, wrongFrom),
    wrong,
    unknown: Array.from({ length: Math.max(10, Math.floor(all.length / 10)) }, (_, i) => ({ login: `nobody${i}`, password: `pw-nobody-${i}` })),
    guessed: wrong.slice(0, Math.min(5, wrong.length)),
  };
}

/** A user of this kind, with what its client sends. */
function pick(kind: 'right' | 'wrong' | 'unknown', users: ReturnType<typeof splitUsers>): { kind: Kind; user: BenchUser; password: string } {
  const user = users[kind][Math.floor(Math.random() * users[kind].length)]!;
  return { kind, user, password: kind === 'wrong' ? `${user.password}-old` : user.password };
}

async function takeSample(pid: number, metricsPort: number, database: ThrowawayServer, redis: Redis, atMs: number, interval: { mux: number; dovecot: number; noReply: number; events: string[] }): Promise<SoakSample> {
  const counts = { mux: interval.mux, dovecot: interval.dovecot, noReply: interval.noReply, events: interval.events.join(', ') };
  const metrics = await scrape(metricsPort);
  return {
    atMs,
    rssBytes: Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024,
    fds: readdirSync(`/proc/${pid}/fd`).length,
    heapUsedBytes: metrics.get('saslauthd_mysql_nodejs_heap_size_used_bytes') ?? NaN,
    handles: metrics.get('saslauthd_mysql_nodejs_active_handles_total') ?? NaN,
    dbConnections: await daemonConnections(database).catch(() => NaN),
    redisConnections: await daemonRedisConnections(redis).catch(() => NaN),
    ...counts,
  };
}

/** The daemon's metrics, unlabelled series only. */
async function scrape(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const values = new Map<string, number>();
  for (const match of text.matchAll(/^([a-z_]+) ([0-9.e+-]+)$/gm)) values.set(match[1]!, Number(match[2]));
  return values;
}

/** Connections Redis holds under the daemon's client name. */
async function daemonRedisConnections(redis: Redis): Promise<number> {
  const list = (await redis.call('CLIENT', 'LIST')) as string;
  return list.split('\n').filter((line) => / name=saslauthd-mysql /.test(line)).length;
}

/** Connects, writes, and closes at once. */
function hangUp(where: net.NetConnectOpts, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(where, () => socket.end(bytes, () => socket.destroy()));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Sleeps up to `ms`, waking early once `running` says stop. */
async function sleepUnless(ms: number, running: () => boolean): Promise<void> {
  const until = performance.now() + ms;
  while (running() && performance.now() < until) await sleep(Math.min(250, until - performance.now()));
}

/**
 * Figures that may move, and how far, before they count as growing. Most are
 * judged by the median of the first and last quarter after the warm-up, RSS
 * by the median of each half (below). The
 * heap is a sawtooth: a sample lands anywhere between the last collection and
 * the next, so its middle says nothing; what a leak raises is the floor, the
 * lowest sample, judged over the first and second half. Even the floor rises
 * for minutes on end while the old generation fills between major
 * collections (a two-minute CI run saw 26 MiB in its first half and 51 in its
 * second, with flat RSS), so the heap is judged only over a run long enough to
 * hold several of them; a shorter run is judged by RSS, which bounds the heap.
 */
const HEAP_JUDGED_OVER_MS = 10 * 60_000;
/**
 * RSS falls when V8 hands pages back after a major collection and climbs back
 * to its plateau after; on a loaded machine the climb lasts past the warm-up
 * (a CI copy beside a CPU hog sampled 144 MiB just after it and 186 to 197
 * from then on). A quarter of a short run is two samples, one of them such a
 * dip; half a run is enough samples that neither a dip nor a fault's spike
 * moves its median, and a leak still raises the second half's.
 */
const GROWTH_ALLOWANCE = {
  rssBytes: { share: 0.15, plus: 16 * MIB, unit: MIB, label: 'RSS (MiB)', judge: 'half-median' },
  heapUsedBytes: { share: 0.3, plus: 16 * MIB, unit: MIB, label: 'heap used, lowest sample (MiB)', judge: 'floor' },
  // Descriptors and handles include the load's connections in flight at the sampling instant
  // (31 to 45 in one two-minute CI run that did not grow): judged by halves too.
  fds: { share: 0, plus: 6, unit: 1, label: 'open descriptors', judge: 'half-median' },
  handles: { share: 0, plus: 12, unit: 1, label: 'active handles', judge: 'half-median' },
  dbConnections: { share: 0, plus: 1, unit: 1, label: 'database connections', judge: 'half-median' },
  redisConnections: { share: 0, plus: 0, unit: 1, label: 'Redis connections', judge: 'half-median' },
} as const;

/** Every way the run failed; empty when it passed. */
export function soakProblems(report: SoakReport): string[] {
  const problems: string[] = [];
  if (report.wrongAnswers > 0) problems.push(`${report.wrongAnswers} wrong answers, e.g. ${report.wrongExamples.join('; ')}`);
  if (report.rightUnansweredOutsideFaults > 0) problems.push(`${report.rightUnansweredOutsideFaults} right logins got no answer outside the faults`);
  if (!report.daemonAlive) problems.push('the daemon died');
  if (report.answers.mux === 0 || report.answers.dovecot === 0) problems.push(`a listener answered nothing (mux ${report.answers.mux}, dovecot ${report.answers.dovecot})`);
  if (report.faults.length < 2) problems.push(`only ${report.faults.length} of the 2 restarts happened: run longer`);
  if (report.afterStop.dbConnections > 0 || report.afterStop.redisConnections > 0) problems.push(`connections left after the daemon stopped: database ${report.afterStop.dbConnections}, Redis ${report.afterStop.redisConnections}`);
  const judged = report.samples.slice(report.warmupSamples);
  const window = Math.floor(judged.length / 4);
  if (window < 1) return [...problems, `only ${judged.length} samples after the warm-up: run longer or sample more often`];
  for (const [figure, allowance] of Object.entries(GROWTH_ALLOWANCE) as [keyof typeof GROWTH_ALLOWANCE, (typeof GROWTH_ALLOWANCE)[keyof typeof GROWTH_ALLOWANCE]][]) {
    if (allowance.judge === 'floor' && !heapJudged(report)) continue;
    const values = judged.map((sample) => sample[figure]);
    const half = Math.floor(values.length / 2);
    const [first, last] = allowance.judge === 'floor' ? [lowest(values.slice(0, half)), lowest(values.slice(-half))] : [median(values.slice(0, half)), median(values.slice(-half))];
    if (!Number.isFinite(first) || !Number.isFinite(last)) problems.push(`${allowance.label}: not measured`);
    else if (last > first * (1 + allowance.share) + allowance.plus) problems.push(`${allowance.label} grew: ${(first / allowance.unit).toFixed(1)} after the warm-up, ${(last / allowance.unit).toFixed(1)} at the end`);
  }
  const mostDb = Math.max(...judged.map((sample) => sample.dbConnections).filter(Number.isFinite));
  // A reload's new pool may open before the old one has closed: two pools at most, never more.
  if (mostDb > 2 * POOL_SIZE) problems.push(`${mostDb} database connections at once, more than two pools of ${POOL_SIZE}`);
  return problems;
}

/** Whether the run after its warm-up is long enough for the heap's floor to mean anything. */
function heapJudged(report: SoakReport): boolean {
  const judged = report.samples.slice(report.warmupSamples);
  return judged.length > 1 && judged.at(-1)!.atMs - judged[0]!.atMs >= HEAP_JUDGED_OVER_MS;
}

/** The lowest of the measured values; NaN when none was measured. */
function lowest(values: number[]): number {
  const measured = values.filter(Number.isFinite);
  return measured.length === 0 ? NaN : Math.min(...measured);
}

/** The samples and totals as docs/BENCHMARKS.md records them. */
export function formatSoakReport(report: SoakReport, sampleMs: number): string {
  const rows = report.samples.map((s) => {
    return `| ${clock(s.atMs)} | ${(s.rssBytes / MIB).toFixed(1)} | ${(s.heapUsedBytes / MIB).toFixed(1)} | ${s.fds} | ${s.handles} | ${s.dbConnections} | ${s.redisConnections} | ${((s.mux * 1000) / sampleMs).toFixed(0)} | ${((s.dovecot * 1000) / sampleMs).toFixed(0)} | ${s.noReply} | ${s.events} |`;
  });
  return [
    '| time | RSS MiB | heap used MiB | fds | handles | db conns | Redis conns | mux/s | dovecot/s | no reply | events |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows,
    '',
    `answers: mux ${report.answers.mux}, dovecot ${report.answers.dovecot}; hang-ups ${report.answers.hangUps}; reloads ${report.answers.reloads}; wrong answers ${report.wrongAnswers}; right logins unanswered outside the faults ${report.rightUnansweredOutsideFaults}`,
    `restarts: ${report.faults.map((f) => `${f.name} at ${(f.fromMs / 1000).toFixed(0)} s (${((f.toMs - f.fromMs) / 1000).toFixed(1)} s)`).join(', ')}`,
    `daemon alive at the end: ${report.daemonAlive ? 'yes' : 'NO'}; after it stopped: database connections ${report.afterStop.dbConnections}, Redis connections ${report.afterStop.redisConnections}`,
    ...(heapJudged(report) ? [] : [`heap: not judged (its floor is judged over ${HEAP_JUDGED_OVER_MS / 60_000} minutes or more after the warm-up; this run is judged by RSS)`]),
  ].join('\n');
}

/** m:ss since the start. */
function clock(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

/** The middle of the values measured (a sample taken while a server was down has none). */
function median(values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor((sorted.length - 1) / 2)]!;
}
