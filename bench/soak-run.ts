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
import { PolicyLoadClient } from './policy-load-client.js';
import { clock, MIB, POOL_SIZE, type SoakReport, type SoakSample } from './soak-judgement.js';
import { daemonConnections } from './fault-run.js';
import { makeBenchMailboxes, seedMailboxes } from './mailbox-seed.js';
import { startMysqlDaemon, type MysqlDaemonProcess } from './mysql-daemon-process.js';
import type { BenchUser } from './load-generator.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const REALM = 'example.org';
/** Longer than the daemon's answer deadline (10 s) plus its longest throttle delay: a request given up on is one the daemon never answered. */
const REQUEST_TIMEOUT_MS = 15_000;
/** After a fault ends, answers may still be the fault's for this long (a reconnect, a retry_after). */
const FAULT_TAIL_MS = 5_000;

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
  /** Closed-loop clients of the Dovecot auth policy listener (allow, then report). */
  readonly policyClients: number;
  readonly cli?: string;
  readonly log?: (line: string) => void;
  readonly daemonLogFile?: string;
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
    const policyPort = await freePort();
    const policySecret = randomBytes(24).toString('hex');
    writeFileSync(path.join(work, 'policy.secret'), policySecret, { mode: 0o600 });
    daemon = await startMysqlDaemon({
      cli: options.cli ?? CLI,
      hosts: `127.0.0.1:${database.port}`,
      poolSize: POOL_SIZE,
      args: [
        ...['--dovecot-socket', dovecotPath, '--throttle-store', redis.url, '--throttle-store-key-file', keyFile, '--metrics-port', String(metricsPort)],
        ...['--dovecot-policy-listen', String(policyPort), '--dovecot-policy-secret-file', path.join(work, 'policy.secret')],
      ],
      ...(options.daemonLogFile ? { logFile: options.daemonLogFile } : {}),
    });
    const pid = daemon.child.pid!;
    await counter.connect();
    // The policy port opens after the socket startMysqlDaemon waited for.
    await waitForPort(policyPort);

    const users = splitUsers(mailboxes.users);
    const started = performance.now();
    const now = () => performance.now() - started;
    const faults: { name: string; fromMs: number; toMs: number }[] = [];
    /** Restarts under way, and those done: a right login that overlapped one may go unanswered. */
    const ongoing = new Set<string>();
    const inFault = (fromMs: number, toMs: number) => ongoing.size > 0 || faults.some((fault) => fromMs <= fault.toMs + FAULT_TAIL_MS && toMs >= fault.fromMs);
    const tally = { mux: 0, dovecot: 0, policy: 0, noReply: 0, hangUps: 0, reloads: 0, wrong: 0, rightUnanswered: 0 };
    const interval = { mux: 0, dovecot: 0, noReply: 0, events: [] as string[] };
    const wrongExamples: string[] = [];
    const wrongAnswer = (what: string) => {
      tally.wrong += 1;
      if (wrongExamples.length < 5) wrongExamples.push(what);
    };
    const unansweredExamples: string[] = [];
    const unanswered = (kind: Kind, fromMs: number, listener: 'mux' | 'dovecot' | 'policy') => {
      tally.noReply += 1;
      interval.noReply += 1;
      if (kind !== 'right' || inFault(fromMs, now())) return;
      tally.rightUnanswered += 1;
      if (unansweredExamples.length < 5) unansweredExamples.push(`${listener} at ${(fromMs / 1000).toFixed(1)} s`);
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
        if (outcome.kind !== 'reply' || outcome.text.length < 2) unanswered(kind, from, 'mux');
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
              if (outcome.kind === 'none') unanswered(kind, from, 'dovecot');
              else if ((outcome.kind === 'ok') !== (kind === 'right')) wrongAnswer(`dovecot ${kind} ${login}: ${outcome.kind}`);
              else if (outcome.kind === 'ok' && outcome.user !== login) wrongAnswer(`dovecot ${login}: OK naming ${outcome.user}`);
            }
          }),
        );
        connection.close();
      }
    };

    // Dovecot's auth policy: allow, then report what Dovecot decided (a quarter failures, on the policy's own
    // mailboxes and names: a flood of failures on names the other clients use would throttle them, and a Dovecot
    // connection closes on a temporary failure, taking its other logins with it). An answer is 0 or -1 (a turn
    // that cannot be had), never anything else. One in twenty successes' reports never comes (an auth process
    // that died): its turn is held until the answer deadline.
    const policy = new PolicyLoadClient(policyPort, policySecret);
    const policyClient = async (index: number) => {
      for (let n = 0; running(); n += 1) {
        const kind: Kind = n % 4 === 3 ? 'wrong' : 'right';
        const user = n % 8 === 7 ? `policy-nobody${n % 100}` : users.policy[Math.floor(Math.random() * users.policy.length)]!.login;
        const login = { login: `${user}@${REALM}`, remote: `192.0.2.${1 + ((index * 7 + n) % 250)}`, session: `s${index}-${n}`, pwhash: kind === 'right' ? '0a1' : (n % 16).toString(16).padStart(2, '0') };
        const from = now();
        const answer = await policy.allow(login, REQUEST_TIMEOUT_MS);
        tally.policy += 1;
        if (answer.kind === 'none') {
          unanswered(kind, from, 'policy');
          await sleep(200);
        }
        else if (answer.status !== 0 && answer.status !== -1) wrongAnswer(`policy ${kind} ${login.login}: status ${answer.status}`);
        else if (answer.status === 0 && (kind !== 'right' || n % 20 !== 19)) await policy.report(login, kind === 'right', REQUEST_TIMEOUT_MS);
        if (n % 50 === 49) await policy.hangUp();
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
      ...Array.from({ length: options.policyClients }, (_, index) => policyClient(index)),
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
    policy.close();

    const daemonAlive = daemon.alive;
    await daemon.stop();
    await sleep(500);
    const afterStop = { dbConnections: await daemonConnections(database), redisConnections: await daemonRedisConnections(counter) };
    return {
      samples,
      warmupSamples: samples.filter((sample) => sample.atMs <= options.warmupMs).length,
      answers: { mux: tally.mux, dovecot: tally.dovecot, ...(options.policyClients > 0 ? { policy: tally.policy } : {}), hangUps: tally.hangUps, reloads: tally.reloads },
      wrongAnswers: tally.wrong,
      wrongExamples,
      rightUnansweredOutsideFaults: tally.rightUnanswered,
      unansweredExamples,
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
  // The policy clients' own mailboxes: what Dovecot reports about them counts against them alone.
  const policyFrom = Math.floor(wrongFrom * 0.9);
  return {
    right: all.slice(0, policyFrom),
    policy: all.slice(policyFrom, wrongFrom),
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

async function waitForPort(port: number): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(50)) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
  }
  throw new Error(`nothing listens on port ${port} after 10 s`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Sleeps up to `ms`, waking early once `running` says stop. */
async function sleepUnless(ms: number, running: () => boolean): Promise<void> {
  const until = performance.now() + ms;
  while (running() && performance.now() < until) await sleep(Math.min(250, until - performance.now()));
}
