/**
 * npm run bench:throttle-store: what sharing the throttle through Redis costs
 * a login. The installed command on one throwaway MariaDB (2,000 md5crypt
 * mailboxes, PostfixAdmin schema), the throttle on in both contenders, with
 * and without --throttle-store pointed at a throwaway redis-server on
 * loopback, under the C load generator (as libsasl2 asks), every login right:
 *   misses    --verify-cache 0: a lookup and an md5crypt per login, 16 clients
 *   hot       the default cache on 100 hot users: a lookup per login, 32 clients
 *   hot -c    saslauthd's -c on 100 hot users: no lookup at all, so nothing
 *             hides the store's round trip, 32 clients
 * Rounds (5 by default: this machine's neighbours come and go) alternate the
 * two contenders; each ratio is taken within its round
 * and the median round is checked against the targets (paired-ratios.ts).
 * The script calls Redis ran per login are read from its own statistics, and
 * the daemon's context switches per login from /proc: a login that waits on
 * Redis while the daemon has nothing else to do puts it to sleep and wakes it.
 * The kilobytes allocated and promoted per login come from the daemon's
 * --trace-gc-nvp lines (gc-tally.ts): what the store's work costs the
 * collector, steadier from run to run than logins a second.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import { ThrowawayRedis } from '../test/helpers/throwaway-redis.js';
import { ThrowawayServer } from '../test/helpers/throwaway-mariadb.js';
import { buildCGenerator, runCLoad } from './c-load-generator.js';
import type { LoadResult } from './load-generator.js';
import { mailboxTableEnv, makeBenchMailboxes, seedMailboxes } from './mailbox-seed.js';
import { describeTarget, formatRatio, pairedRatios, type Target } from './paired-ratios.js';
import { contextSwitches, processCpuMicros } from './process-cpu.js';
import { waitForSocket } from './wait-for-socket.js';
import { GC_TRACE_FLAGS, GcTally, INSTALLED_V8_FLAGS, subtractCounts } from './gc-tally.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '5' },
    users: { type: 'string', default: '2000' },
    // Run only these scenarios (comma-separated): misses, hot, hot-c. Default: all three.
    only: { type: 'string', default: 'misses,hot,hot-c' },
  },
});
const DURATION_MS = Number(args.duration) * 1000;
const ROUNDS = Number(args.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds must be a whole number of at least 1, not ${args.rounds}`);

const SCENARIOS = [
  { name: 'misses', title: 'every login a cache miss (--verify-cache 0)', clients: 16, hot: undefined, extra: ['--verify-cache', '0'] },
  { name: 'hot', title: '100 hot users, the default cache', clients: 32, hot: 100, extra: [] },
  { name: 'hot -c', title: '100 hot users, -c', clients: 32, hot: 100, extra: ['-c'] },
] as const;
const ONLY = new Set(args.only.split(','));
for (const name of ONLY) if (!SCENARIOS.some((scenario) => scenario.name.replace(' ', '') === name)) throw new Error(`--only takes misses, hot and hot-c, not ${name}`);

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Script calls Redis has run so far (one per batch of the store's counts, settles and markers; one per turn taken). */
async function scriptCalls(client: Redis): Promise<number> {
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(await client.info('commandstats'))?.[1] ?? 0);
}

const build = buildCGenerator();
if (!build.ok) throw new Error(`the throttle-store benchmark uses the C generator: ${build.reason}`);
const work = mkdtempSync(path.join(os.tmpdir(), 'sm-store-bench-'));
const redis = await ThrowawayRedis.launch();
const statistics = redis.connect();
const database = await ThrowawayServer.create();
let failed = false;
try {
  const mailboxes = makeBenchMailboxes(Number(args.users));
  await seedMailboxes(database, mailboxes);
  const env = mailboxTableEnv(database.port);
  const key = path.join(work, 'throttle.key');
  writeFileSync(key, 'a benchmark secret, long enough\n', { mode: 0o600 });
  console.log(`saslauthd-mysql throttle-store cost: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, node ${process.version}; -a mysql -r on MariaDB (127.0.0.1), ${mailboxes.users.length} md5crypt mailboxes, all logins right, throttle on (5 failures); ${args.duration} s per run, ${ROUNDS} rounds; C load generator (bench/mux-load.c); Redis ${redis.url} (redis-server on loopback)`);
  const contenders: Array<[string, string[]]> = [
    ['this host only', []],
    ['shared through Redis', ['--throttle-store', redis.url, '--throttle-store-key-file', key]],
  ];
  const targets: Target[] = [];
  for (const scenario of SCENARIOS.filter(({ name }) => ONLY.has(name.replace(' ', '')))) {
    console.log(`\n${scenario.title}, ${scenario.clients} clients`);
    console.log(`  ${''.padEnd(28)}${'auths/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'wrong'.padStart(8)}${'no reply'.padStart(10)}${'scripts/login'.padStart(18)}${'CPU us/login: daemon'.padStart(22)}${'Redis'.padStart(7)}${'switches/login'.padStart(16)}${'KB/login: allocated'.padStart(21)}${'promoted'.padStart(10)}`);
    const results: Record<string, LoadResult[]> = {};
    for (let round = 1; round <= ROUNDS; round += 1) {
      for (const [name, extra] of contenders) {
        const runDir = mkdtempSync(path.join(work, 'run-'));
        const socketPath = path.join(runDir, 'mux');
        // With the installed command's V8 settings (its #! line), and the collector's trace for the allocation columns.
        const child = spawn(process.execPath, [...INSTALLED_V8_FLAGS, ...GC_TRACE_FLAGS, CLI, '-a', 'mysql', '-r', '-m', runDir, '--throttle-after', '5', ...scenario.extra, ...extra], { stdio: ['ignore', 'pipe', 'ignore'], env });
        const gc = new GcTally(child.stdout);
        try {
          await waitForSocket(socketPath, child);
          const load = { socketPath, clients: scenario.clients, users: mailboxes.users, realm: 'example.org', service: 'smtp', wrongShare: 0, ...(scenario.hot ? { hotSet: scenario.hot } : {}) };
          await runCLoad(build.binary, { ...load, durationMs: 1000 });
          const scriptsBefore = await scriptCalls(statistics);
          const cpuBefore = { daemon: processCpuMicros(child.pid!), redis: processCpuMicros(redis.pid!) };
          const switchesBefore = contextSwitches(child.pid!);
          const gcBefore = gc.counts;
          const result = await runCLoad(build.binary, { ...load, durationMs: DURATION_MS });
          const cpu = { daemon: (processCpuMicros(child.pid!) - cpuBefore.daemon) / result.requests, redis: (processCpuMicros(redis.pid!) - cpuBefore.redis) / result.requests };
          const switches = (contextSwitches(child.pid!) - switchesBefore) / result.requests;
          const perLogin = ((await scriptCalls(statistics)) - scriptsBefore) / result.requests;
          const collected = subtractCounts(gc.counts, gcBefore);
          (results[name] ??= []).push(result);
          if (result.wrongAnswers > 0) failed = true;
          console.log(`  ${`${name} #${round}`.padEnd(28)}${result.perSecond.toFixed(0).padStart(9)}${result.p50Ms.toFixed(2).padStart(9)}${result.p99Ms.toFixed(2).padStart(9)}${String(result.wrongAnswers).padStart(8)}${String(result.noReply).padStart(10)}${perLogin.toFixed(2).padStart(18)}${cpu.daemon.toFixed(0).padStart(22)}${cpu.redis.toFixed(0).padStart(7)}${switches.toFixed(3).padStart(16)}${(collected.allocatedBytes / 1024 / result.requests).toFixed(2).padStart(21)}${(collected.promotedBytes / 1024 / result.requests).toFixed(2).padStart(10)}`);
        } finally {
          await stop(child);
        }
      }
    }
    const ratio = pairedRatios(results[contenders[1]![0]]!, results[contenders[0]![0]]!);
    console.log(`  shared / this host only (median round, and the range): throughput ${formatRatio(ratio.throughput)}, p99 ${formatRatio(ratio.p99)}`);
    targets.push({ what: `${scenario.name}, throughput shared / this host only`, value: ratio.medianThroughput, bound: 'at-least', limit: 0.8 });
    targets.push({ what: `${scenario.name}, p99 shared / this host only`, value: ratio.medianP99, bound: 'at-most', limit: 1.3 });
  }
  console.log('\ntargets (docs/BENCHMARKS.md)');
  for (const target of targets) console.log(`  ${describeTarget(target)}`);
  if (failed) console.log('\nFAILED: wrong answers were given (see the "wrong" column)');
} finally {
  await database.destroy();
  statistics.disconnect();
  await redis.destroy();
  rmSync(work, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
