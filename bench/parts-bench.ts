/**
 * npm run bench:parts: what one login costs, part by part, in CPU
 * microseconds, so that work on speed can aim at the biggest part.
 *   socket:  the mux server with a handler that answers at once (no lookup, no hash)
 *   mysql2:  one prepared lookup on a pooled connection (client side)
 *   handoff: one round trip through the verification pool, less the task's own work
 *   md5crypt: one verification on this thread
 *   latency floor: p50/p99 at 16 clients of a server that spends a fixed
 *     time per request on one thread and nothing else, under the same load
 *     generator: what latency the machine and generator allow at all
 *   the floor: a bare Node server that only parses and answers, against our
 *     hot path (-c, and the default cache) under the C generator (floor-run.ts)
 *   memory per cached user, per cache (cache-memory.ts)
 */
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2';
import { MuxServer } from '../src/protocol/server.js';
import { createLogger } from '../src/log/logger.js';
import { md5crypt } from '../src/crypt/schemes/md5crypt.js';
import { desCrypt } from '../src/crypt/schemes/des-crypt.js';
import { FailureThrottle } from '../src/auth/throttle.js';
import { VerifyPool } from '../src/crypt/verify-pool.js';
import { runLoad, type LoadResult } from './load-generator.js';
import { ThrowawayServer } from '../test/helpers/throwaway-mariadb.js';
import { describeFloor, runFloor } from './floor-run.js';

const SELF = fileURLToPath(import.meta.url);
const SECONDS = Number(process.env.BENCH_SECONDS ?? '3');
/** More rounds on a noisy machine: the floor's shares are medians of rounds. */
const FLOOR_ROUNDS = Number(process.env.BENCH_FLOOR_ROUNDS ?? '3');

/** Child mode: a mux server whose handler answers OK after `busyMicros` of work (none by default); reports its CPU on request. */
async function serveOnly(socketPath: string, busyMicros: number): Promise<void> {
  const server = new MuxServer({
    handler: async () => {
      const until = performance.now() + busyMicros / 1000;
      while (performance.now() < until);
      return { kind: 'answer', text: 'OK' };
    },
    timeouts: { readTimeoutMs: 5000, answerTimeoutMs: 5000, replyTimeoutMs: 5000 },
    maxConnections: 512,
    maxPerPeer: 512,
    logger: createLogger({ level: 'warn', pretty: false }),
  });
  await server.listen({ path: socketPath });
  process.on('message', (message) => {
    if (message === 'cpu') process.send!(process.cpuUsage());
    else void server.close(0).then(() => process.exit(0));
  });
  process.send!('ready');
}

const cpuMicros = (usage: NodeJS.CpuUsage) => usage.user + usage.system;

async function socketCost(dir: string, busyMicros = 0): Promise<{ perRequest: number; generatorPercent: number; result: LoadResult }> {
  const socketPath = path.join(dir, `mux-${busyMicros}`);
  const child = fork(SELF, ['--serve-only', socketPath, String(busyMicros)]);
  await new Promise((resolve) => child.once('message', resolve));
  const cpu = () => new Promise<NodeJS.CpuUsage>((resolve) => {
    child.once('message', (usage) => resolve(usage as NodeJS.CpuUsage));
    child.send('cpu');
  });
  const users = Array.from({ length: 100 }, (_, i) => ({ login: `u${i}`, password: 'p' }));
  const load = { socketPath, clients: 16, users, realm: 'example.org', service: 'smtp', wrongShare: 0 };
  await runLoad({ ...load, durationMs: 1000 });
  const before = await cpu();
  const result = await runLoad({ ...load, durationMs: SECONDS * 1000 });
  const after = await cpu();
  child.send('stop');
  return { perRequest: (cpuMicros(after) - cpuMicros(before)) / result.requests, generatorPercent: result.generatorCpuPercent, result };
}

async function mysqlCost(): Promise<number> {
  const server = await ThrowawayServer.create();
  const pool = mysql.createPool({ host: '127.0.0.1', port: server.port, user: 'root', connectionLimit: 1 });
  const run = <T>(fn: (cb: (error: Error | null, result?: T) => void) => void) => new Promise<T>((resolve, reject) => fn((error, result) => (error ? reject(error) : resolve(result as T))));
  try {
    await run((cb) => pool.query('CREATE DATABASE bench', cb));
    await run((cb) => pool.query('CREATE TABLE bench.mailbox (username VARCHAR(255) PRIMARY KEY, password VARCHAR(255))', cb));
    await run((cb) => pool.query('INSERT INTO bench.mailbox VALUES ?', [Array.from({ length: 100 }, (_, i) => [`u${i}@example.org`, `$1$salt$${i}`])], cb));
    const lookup = (i: number) => run((cb) => pool.execute({ sql: 'SELECT password FROM bench.mailbox WHERE username = ?', rowsAsArray: true }, [`u${i % 100}@example.org`], cb));
    for (let i = 0; i < 500; i += 1) await lookup(i);
    const before = process.cpuUsage();
    let n = 0;
    const deadline = performance.now() + SECONDS * 1000;
    while (performance.now() < deadline) await lookup(n++);
    return cpuMicros(process.cpuUsage(before)) / n;
  } finally {
    await new Promise<void>((resolve) => pool.end(() => resolve()));
    await server.destroy();
  }
}

/** CPU of one call of `task` on this thread, in microseconds. */
function onThisThread(task: () => unknown): number {
  for (let i = 0; i < 200; i += 1) task();
  const before = process.cpuUsage();
  let n = 0;
  const deadline = performance.now() + SECONDS * 1000;
  while (performance.now() < deadline) {
    task();
    n += 1;
  }
  return cpuMicros(process.cpuUsage(before)) / n;
}

/** The pool's own cost per task, on both threads: a round trip's CPU less the task's (cpuUsage counts every thread). */
async function handoffCost(): Promise<number> {
  const stored = 'abNANd1rDfiNc';
  const task = { kind: 'des', stored } as const;
  const taskItself = onThisThread(() => desCrypt(Buffer.from('x'), stored));
  const pool = new VerifyPool({ threads: 1, maxQueue: 100 });
  try {
    for (let i = 0; i < 200; i += 1) await pool.run(task, Buffer.from('x'));
    const before = process.cpuUsage();
    let n = 0;
    const deadline = performance.now() + SECONDS * 1000;
    while (performance.now() < deadline) {
      await pool.run(task, Buffer.from('x'));
      n += 1;
    }
    return cpuMicros(process.cpuUsage(before)) / n - taskItself;
  } finally {
    await pool.close();
  }
}

/** The brute-force throttle's bookkeeping for one successful login: its keys, its turn at the gate, counting the outcome. */
function throttleCost(address: string | undefined): number {
  const throttle = new FailureThrottle({ afterFailures: 5, maxDelayMs: 5000, windowMs: 900_000, ipv6PrefixBits: 64 }, createLogger({ level: 'warn', pretty: false }));
  const nobody = new AbortController();
  const users = Array.from({ length: 100 }, (_, i) => `user${i}@example.org`);
  const success = { result: 'success' } as const;
  let i = 0;
  return onThisThread(() => {
    const user = users[(i += 1) % users.length]!;
    const turn = throttle.turn(address, nobody, () => true);
    if (turn.claim(user, 'has-row') !== undefined) throw new Error('a free turn was not given at once');
    turn.settle(success, user);
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sm-parts-'));
  try {
    console.log(`${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, node ${process.version}`);
    console.log(`the floor: a bare Node server (parse, answer OK, close) against our hot path, C generator, 32 clients, 100 hot users, right passwords, ${SECONDS} s per run, ${FLOOR_ROUNDS} rounds`);
    console.log(describeFloor(await runFloor({ seconds: SECONDS, rounds: FLOOR_ROUNDS, clients: 32, log: (line) => console.log(line) })).join('\n'));
    console.log(`CPU per login, part by part (${SECONDS} s each)`);
    const socket = await socketCost(dir);
    console.log(`  socket (accept, read, answer, close): ${socket.perRequest.toFixed(1)} us  (load generator: ${socket.generatorPercent.toFixed(0)}% of a core)`);
    console.log(`  mysql2 prepared lookup, client side:  ${(await mysqlCost()).toFixed(1)} us`);
    console.log(`  pool hand-off, both threads:          ${(await handoffCost()).toFixed(1)} us  (the task's own work subtracted)`);
    console.log(`  throttle bookkeeping, no address:     ${throttleCost(undefined).toFixed(1)} us`);
    console.log(`  throttle bookkeeping, owner address:  ${throttleCost('203.0.113.9').toFixed(1)} us`);
    const password = Buffer.from('correct horse');
    console.log(`  md5crypt, one verification:           ${onThisThread(() => md5crypt(password, 'saltsalt')).toFixed(1)} us  (JavaScript; the native addon's libxcrypt takes about half)`);
    console.log('memory per cached user (heap after a full collection, 20,000 users per cache):');
    process.stdout.write(execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(new URL('./cache-memory.ts', import.meta.url))], { encoding: 'utf8' }));
    console.log('latency floor: a server spending a fixed time per request on one thread, 16 clients');
    for (const busy of [100, 200]) {
      const { result } = await socketCost(dir, busy);
      console.log(`  ${busy} us per request: ${result.perSecond.toFixed(0)}/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--serve-only') await serveOnly(process.argv[3]!, Number(process.argv[4] ?? 0));
else await main();
