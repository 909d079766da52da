/**
 * npm run bench:cores: what one login costs in CPU on the miss path, thread
 * by thread, and what that says about machines with more cores than this
 * one. The daemon (-a pam -r, no cache) and the reference (saslauthd -a pam
 * -r -n 16 with pam_mysql, same PAM line) each serve the C generator's
 * closed loop (16 clients, 20% wrong passwords) on one throwaway MariaDB,
 * ours with UV_THREADPOOL_SIZE 1, 2 and 4 (the threads md5crypt runs on).
 * CPU is read from /proc before and after: for ours the main thread (the
 * event loop: one core at most, whatever the machine) apart from every other
 * thread; for saslauthd every process of its group; MariaDB's apart.
 * Projection for N cores: ours is bounded by its main thread and by N cores
 * divided among its threads; saslauthd's workers are processes and scale
 * with the cores. The database is counted where it runs: on this machine in
 * the measured figures, elsewhere in the projection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildCGenerator, runCLoad } from './c-load-generator.js';
import { makeBenchMailboxes, seedMailboxes } from './mailbox-seed.js';
import { cpuOf, cpuOfStatFields, mariadbPid } from './process-cpu.js';
import { waitForSocket } from './wait-for-socket.js';
import { ThrowawayServer } from '../test/helpers/throwaway-mariadb.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '8' } } });
const SECONDS = Number(args.seconds);
/** The run that moves every hash off the event loop, as a machine with many cores does. */
const OFF_MAIN = 'saslauthd-mysql, hashes off the main thread';

function threadsOf(pid: number): Map<number, number> {
  const cpu = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) cpu.set(Number(tid), cpuOf(`/proc/${pid}/task/${tid}/stat`));
  return cpu;
}

/** Every process of a group: saslauthd's master and its workers. */
function groupCpu(pgid: number): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = (() => {
      try {
        return readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        return '';
      }
    })();
    const fields = stat.split(') ')[1]?.split(' ');
    if (fields && Number(fields[2]) === pgid) total += cpuOfStatFields(fields);
  }
  return total;
}


interface Measured {
  readonly name: string;
  readonly perSecond: number;
  readonly mainUs?: number;
  readonly otherUs: number;
  readonly databaseUs: number;
}

async function main(): Promise<void> {
  const build = buildCGenerator();
  if (!build.ok) throw new Error(`the C generator is needed: ${build.reason}`);
  if (process.getuid?.() !== 0 || !existsSync('/usr/sbin/saslauthd')) throw new Error('run as root with sasl2-bin and libpam-mysql installed (saslauthd -a pam reads only /etc/pam.d)');
  const work = mkdtempSync(path.join(os.tmpdir(), 'sm-cores-'));
  const service = `sm-cores-${randomBytes(3).toString('hex')}`;
  const referencePam = path.join('/etc/pam.d', service);
  const server = await ThrowawayServer.create();
  try {
    const mailboxes = makeBenchMailboxes(2000);
    await seedMailboxes(server, mailboxes);
    const line = `pam_mysql.so user=sasl passwd=sasl-pw host=127.0.0.1:${server.port} db=postfix table=mailbox usercolumn=username passwdcolumn=password crypt=1 md5=1 where=active=1`;
    const pamText = `auth    required   ${line}\naccount sufficient ${line}\n`;
    const pamDir = path.join(work, 'pam.d');
    mkdirSync(pamDir);
    writeFileSync(path.join(pamDir, service), pamText);
    writeFileSync(referencePam, pamText);
    const database = mariadbPid(server.dataDir);
    console.log(`saslauthd-mysql CPU per login on the miss path: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, node ${process.version}; C generator, 16 clients, 20% wrong passwords, ${SECONDS} s per run; one throwaway MariaDB`);

    const runs: Array<[string, string, string[], NodeJS.ProcessEnv]> = [
      ...[1, 2, 4].map((threads): [string, string, string[], NodeJS.ProcessEnv] => [`saslauthd-mysql, UV_THREADPOOL_SIZE=${threads}`, CLI, ['-a', 'pam', '-r', '--pam-dir', pamDir, '--throttle-after', '0', '--verify-cache', '0'], { ...process.env, UV_THREADPOOL_SIZE: String(threads) }]),
      // As on a 16-core machine: every md5crypt on libuv's pool, none on the event loop (here the threads share 2 cores).
      [OFF_MAIN, CLI, ['-a', 'pam', '-r', '--pam-dir', pamDir, '--throttle-after', '0', '--verify-cache', '0', '--verify-threads', '16'], { ...process.env, UV_THREADPOOL_SIZE: '17' }],
      ['saslauthd -n 16 + pam_mysql', '/usr/sbin/saslauthd', ['-a', 'pam', '-r', '-n', '16', '-d'], process.env],
    ];
    const measured: Measured[] = [];
    for (const [name, command, argv, env] of runs) {
      const runDir = mkdtempSync(path.join(work, 'run-'));
      const socketPath = path.join(runDir, 'mux');
      const child: ChildProcess = spawn(command, [...argv, '-m', runDir], { stdio: 'ignore', detached: true, env });
      try {
        await waitForSocket(socketPath, child);
        const load = { socketPath, clients: 16, users: mailboxes.users, realm: 'example.org', service, wrongShare: 0.2 };
        await runCLoad(build.binary, { ...load, durationMs: 1000 });
        const ours = command === CLI;
        const threadsBefore = ours ? threadsOf(child.pid!) : undefined;
        const groupBefore = ours ? 0 : groupCpu(child.pid!);
        const dbBefore = cpuOf(`/proc/${database}/stat`);
        const result = await runCLoad(build.binary, { ...load, durationMs: SECONDS * 1000 });
        const dbUs = (cpuOf(`/proc/${database}/stat`) - dbBefore) / result.requests;
        if (ours) {
          const after = threadsOf(child.pid!);
          let main = 0;
          let other = 0;
          for (const [tid, cpu] of after) {
            const spent = cpu - (threadsBefore!.get(tid) ?? 0);
            if (tid === child.pid) main += spent;
            else other += spent;
          }
          measured.push({ name, perSecond: result.perSecond, mainUs: main / result.requests, otherUs: other / result.requests, databaseUs: dbUs });
        } else {
          measured.push({ name, perSecond: result.perSecond, otherUs: (groupCpu(child.pid!) - groupBefore) / result.requests, databaseUs: dbUs });
        }
        if (result.wrongAnswers > 0) throw new Error(`${name}: ${result.wrongAnswers} wrong answers`);
      } finally {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          try {
            process.kill(-child.pid!, 'SIGTERM');
          } catch {
            resolve();
          }
        });
      }
    }

    console.log(`\n  ${''.padEnd(36)}${'logins/s'.padStart(9)}${'main us'.padStart(9)}${'other us'.padStart(10)}${'daemon us'.padStart(11)}${'MariaDB us'.padStart(12)}   (CPU per login)`);
    for (const m of measured) {
      const daemon = (m.mainUs ?? 0) + m.otherUs;
      console.log(`  ${m.name.padEnd(36)}${m.perSecond.toFixed(0).padStart(9)}${(m.mainUs === undefined ? '-' : m.mainUs.toFixed(0)).padStart(9)}${m.otherUs.toFixed(0).padStart(10)}${daemon.toFixed(0).padStart(11)}${m.databaseUs.toFixed(0).padStart(12)}`);
    }
    // On many cores the hashes leave the event loop (offload = cores - 1): its cost per login is then the off-main run's.
    const offMain = measured.find((m) => m.name === OFF_MAIN)!;
    const theirs = measured.find((m) => m.mainUs === undefined)!;
    const oursTotal = offMain.mainUs! + offMain.otherUs;
    console.log(`\nprojection, the database on other machines: the main thread at ${offMain.mainUs!.toFixed(0)} us per login (every hash on the pool), ${oursTotal.toFixed(0)} us in all; saslauthd ${theirs.otherUs.toFixed(0)} us per login, in processes that scale with the cores`);
    for (const cores of [8, 16]) {
      const mainBound = 1e6 / offMain.mainUs!;
      const coresBound = (cores * 1e6) / oursTotal;
      const oursCap = Math.min(mainBound, coresBound);
      const theirsCap = (cores * 1e6) / theirs.otherUs;
      console.log(`  ${String(cores).padStart(2)} cores: saslauthd-mysql about ${oursCap.toFixed(0)}/s (bound by ${mainBound < coresBound ? 'its main thread' : 'the cores'}), saslauthd -n ${Math.max(16, cores)} about ${theirsCap.toFixed(0)}/s: x${(oursCap / theirsCap).toFixed(1)}`);
    }
  } finally {
    await server.destroy();
    rmSync(referencePam, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
