/**
 * npm run bench:ab -- --baseline OTHER/dist/cli/main.js: this build against
 * another one on the hot paths that need no database (a passwd-file of 100
 * md5crypt users, 20% wrong passwords, the C generator at 32 clients), the two
 * alternating in every round so that a machine's drift hits both alike. It
 * prints logins/s and the daemon's CPU per login for each run, and the median
 * of the per-round ratios, for each cache mode:
 *   -c              saslauthd's cache: no lookup, no hash
 *   default         the never-stale cache: a lookup, no hash for repeats
 *   no-cache        --verify-cache 0: a lookup and an md5crypt every time
 *
 * --throttle runs both builds with the brute-force throttle at its default
 * (it is off otherwise) and every password right, so what is measured is the
 * throttle's bookkeeping on each login, never its delays.
 *
 * Each daemon runs with the installed command's V8 flags and --trace-gc-nvp,
 * and each run prints the kilobytes it allocated and promoted per login
 * (gc-tally.ts): figures that move far less between runs than logins/s.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { md5crypt } from '../src/crypt/schemes/md5crypt.js';
import { buildCGenerator, runCLoad } from './c-load-generator.js';
import { median } from './paired-ratios.js';
import { processCpuMicros } from './process-cpu.js';
import { GC_TRACE_FLAGS, GcTally, INSTALLED_V8_FLAGS, subtractCounts } from './gc-tally.js';
import { waitForSocket } from './wait-for-socket.js';

const { values: args } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '6' },
    duration: { type: 'string', default: '5' },
    modes: { type: 'string', default: '-c,default,no-cache' },
    throttle: { type: 'boolean', default: false },
  },
});
const THROTTLE = args.throttle ? [] : ['--throttle-after', '0'];
const WRONG_SHARE = args.throttle ? 0 : 0.2;
if (!args.baseline) throw new Error('--baseline OTHER/dist/cli/main.js is required: the build to compare with');
const BUILDS = { 'this build': fileURLToPath(new URL('../dist/cli/main.js', import.meta.url)), baseline: path.resolve(args.baseline) } as const;
const MODES: Record<string, string[]> = { '-c': ['-c'], default: [], 'no-cache': ['--verify-cache', '0'] };
const ROUNDS = Number(args.rounds);
const DURATION_MS = Number(args.duration) * 1000;

const generator = buildCGenerator();
if (!generator.ok) throw new Error(`the C load generator: ${generator.reason}`);
const work = mkdtempSync(path.join(os.tmpdir(), 'sm-ab-'));
const users = Array.from({ length: 100 }, (_, i) => ({ login: `user${i}`, password: `pw-${i}` }));
const passwd = path.join(work, 'passwd');
writeFileSync(passwd, users.map((user, i) => `${user.login}@example.org:${md5crypt(Buffer.from(user.password), `salt${i}`)}\n`).join(''));

console.log(`saslauthd-mysql A/B: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, node ${process.version}; baseline ${BUILDS.baseline}; ${ROUNDS} rounds of ${DURATION_MS / 1000} s; ${args.throttle ? 'throttle at its default, every password right' : 'throttle off, 20% wrong passwords'}`);
try {
  for (const mode of args.modes.split(',')) {
    const extra = MODES[mode];
    if (!extra) throw new Error(`--modes takes -c, default and no-cache, not ${mode}`);
    console.log(`\n${mode}`);
    const runs: Record<keyof typeof BUILDS, Array<{ rate: number; cpu: number; allocatedKb: number; promotedKb: number }>> = { 'this build': [], baseline: [] };
    for (let round = 0; round < ROUNDS; round += 1) {
      const order: Array<keyof typeof BUILDS> = round % 2 ? ['baseline', 'this build'] : ['this build', 'baseline'];
      for (const name of order) {
        const dir = path.join(work, `${name.replace(/\W/g, '-')}-${mode}-${round}`);
        const child = spawn(process.execPath, [...INSTALLED_V8_FLAGS, ...GC_TRACE_FLAGS, BUILDS[name], '-a', 'passwd-file', '-O', passwd, '-r', '-m', dir, ...THROTTLE, ...extra], { stdio: ['ignore', 'pipe', 'ignore'] });
        const gc = new GcTally(child.stdout);
        try {
          await waitForSocket(path.join(dir, 'mux'), child);
          const load = { socketPath: path.join(dir, 'mux'), clients: 32, users, realm: 'example.org', service: 'smtp', wrongShare: WRONG_SHARE, hotSet: users.length };
          await runCLoad(generator.binary, { ...load, durationMs: 1000 });
          const before = processCpuMicros(child.pid!);
          const gcBefore = gc.counts;
          const result = await runCLoad(generator.binary, { ...load, durationMs: DURATION_MS });
          const cpu = (processCpuMicros(child.pid!) - before) / result.requests;
          const collected = subtractCounts(gc.counts, gcBefore);
          const allocatedKb = collected.allocatedBytes / 1024 / result.requests;
          const promotedKb = collected.promotedBytes / 1024 / result.requests;
          runs[name].push({ rate: result.perSecond, cpu, allocatedKb, promotedKb });
          console.log(
            `  ${`${name} #${round + 1}`.padEnd(16)}${result.perSecond.toFixed(0).padStart(8)} logins/s${cpu.toFixed(1).padStart(8)} us CPU/login` +
              `${allocatedKb.toFixed(2).padStart(8)} KB allocated${promotedKb.toFixed(2).padStart(7)} KB promoted /login, ${collected.scavenges} young and ${collected.fullCollections} full collections` +
              `${result.wrongAnswers ? `  WRONG ANSWERS: ${result.wrongAnswers}` : ''}`,
          );
        } finally {
          child.kill('SIGTERM');
          await new Promise((resolve) => child.once('exit', resolve));
        }
      }
    }
    const ratio = (of: (run: (typeof runs)['baseline'][number]) => number): string => {
      const ratios = runs['this build'].map((run, i) => of(run) / of(runs.baseline[i]!));
      return `x${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`;
    };
    console.log(
      `  this build / baseline, median of the rounds (range): logins/s ${ratio((run) => run.rate)}, CPU per login ${ratio((run) => run.cpu)}, ` +
        `allocated per login ${ratio((run) => run.allocatedKb)}, promoted per login ${ratio((run) => run.promotedKb)}`,
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
