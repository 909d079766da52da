/**
 * Our hot path against the floor (bench:parts): the same C load generator
 * (bench/mux-load.c, as libsasl2 asks) against a bare Node server that only
 * parses and answers (bench/bare-server.ts), against the daemon with -c
 * (recent successes skip the database), and against the daemon with its
 * default never-stale cache (one database lookup per login), on 100 hot
 * users with right passwords. Rounds alternate the three; each share is
 * taken within its round and the median round reported.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBareServer } from './bare-server-build.js';
import { buildCGenerator, runCLoad } from './c-load-generator.js';
import type { LoadResult } from './load-generator.js';
import { mailboxTableEnv, makeBenchMailboxes, seedMailboxes } from './mailbox-seed.js';
import { formatRatio, median, pairedRatios } from './paired-ratios.js';
import { mariadbPid, processCpuMicros } from './process-cpu.js';
import { waitForSocket } from './wait-for-socket.js';
import { INSTALLED_V8_FLAGS } from './gc-tally.js';
import { ThrowawayServer } from '../test/helpers/throwaway-mariadb.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
/** The V8 setting the installed command runs with (its #! line); the floor gets it too. */
const V8_FLAGS = INSTALLED_V8_FLAGS;

export interface FloorReport {
  readonly rounds: Record<'floor' | 'cached' | 'default', LoadResult[]>;
  readonly cachedShare: readonly number[];
  readonly defaultShare: readonly number[];
}

async function started(child: ChildProcess, socketPath: string): Promise<ChildProcess> {
  await waitForSocket(socketPath, child);
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

export async function runFloor(options: { seconds: number; rounds: number; clients: number; log: (line: string) => void }): Promise<FloorReport> {
  const build = buildCGenerator();
  if (!build.ok) throw new Error(`the floor is measured with the C generator: ${build.reason}`);
  const bareServer = buildBareServer();
  const work = mkdtempSync(path.join(os.tmpdir(), 'sm-floor-'));
  const database = await ThrowawayServer.create();
  try {
    const mailboxes = makeBenchMailboxes(2000);
    await seedMailboxes(database, mailboxes);
    const databasePid = mariadbPid(database.dataDir);
    const env = mailboxTableEnv(database.port);
    const contenders: Array<[keyof FloorReport['rounds'], (socketPath: string, dir: string) => ChildProcess]> = [
      ['floor', (socketPath) => spawn(process.execPath, [...V8_FLAGS, bareServer, socketPath], { stdio: 'ignore' })],
      ['cached', (_, dir) => spawn(process.execPath, [...V8_FLAGS, CLI, '-a', 'mysql', '-r', '-m', dir, '-c', '--throttle-after', '0'], { stdio: 'ignore', env })],
      ['default', (_, dir) => spawn(process.execPath, [...V8_FLAGS, CLI, '-a', 'mysql', '-r', '-m', dir, '--throttle-after', '0'], { stdio: 'ignore', env })],
    ];
    const rounds: FloorReport['rounds'] = { floor: [], cached: [], default: [] };
    for (let round = 1; round <= options.rounds; round += 1) {
      for (const [name, start] of contenders) {
        const dir = mkdtempSync(path.join(work, `${name}-`));
        const socketPath = path.join(dir, 'mux');
        const child = await started(start(socketPath, dir), socketPath);
        try {
          const load = { socketPath, clients: options.clients, users: mailboxes.users, hotSet: 100, realm: 'example.org', service: 'smtp', wrongShare: 0 };
          await runCLoad(build.binary, { ...load, durationMs: 1000 });
          const before = { server: processCpuMicros(child.pid!), database: processCpuMicros(databasePid) };
          const result = await runCLoad(build.binary, { ...load, durationMs: options.seconds * 1000 });
          const perLogin = (pid: number, from: number) => ((processCpuMicros(pid) - from) / result.requests).toFixed(0);
          const cpu = `server ${perLogin(child.pid!, before.server)} us CPU/login${name === 'default' ? `, MariaDB ${perLogin(databasePid, before.database)}` : ''}`;
          if (result.wrongAnswers > 0) throw new Error(`${name}: ${result.wrongAnswers} wrong answers`);
          rounds[name].push(result);
          options.log(`  ${`${name} #${round}`.padEnd(14)}${result.perSecond.toFixed(0).padStart(8)}/s  p50 ${result.p50Ms.toFixed(2)} ms  p99 ${result.p99Ms.toFixed(2)} ms  ${cpu}  (generator ${result.generatorCpuPercent.toFixed(0)}% of a core)`);
        } finally {
          await stop(child);
        }
      }
    }
    return { rounds, cachedShare: pairedRatios(rounds.cached, rounds.floor).throughput, defaultShare: pairedRatios(rounds.default, rounds.floor).throughput };
  } finally {
    await database.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

export function describeFloor(report: FloorReport): string[] {
  const share = (values: readonly number[], target: number) => `${(median(values) * 100).toFixed(0)}% of the floor, ${formatRatio(values)} (target >= ${target * 100}%: ${median(values) >= target ? 'met' : 'MISSED'})`;
  return [`  -c hot path:            ${share(report.cachedShare, 0.8)}`, `  default-cache hot path: ${share(report.defaultShare, 0.6)}`];
}
