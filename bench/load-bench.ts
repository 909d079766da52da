/**
 * npm run bench: the daemon against the chain it replaces, in one run, on
 * one throwaway MariaDB with 2,000 md5crypt mailboxes (PostfixAdmin schema),
 * the same PAM line and the same closed-loop load (20% wrong passwords).
 *   1. every login a cache miss: saslauthd -a pam -r -n 16 vs ours with no cache, 16 clients
 *   2. 100 hot users, repeat logins: saslauthd ... -c vs ours with its default (never stale) cache and
 *      with -c, and a bare Node server that only parses and answers (the floor), 32 clients
 *   3. peak memory of ours at 64 clients with every listener on (mux, Dovecot, Dovecot policy,
 *      metrics, a Redis throttle store), as installed and as `npm start` runs it, and the floor's
 *      under the same load (what Node itself holds)
 * Each run prints its daemon's CPU per login (worker processes included) and MariaDB's, and the
 * reference's set-up is checked and printed (its worker processes, MariaDB's name resolution),
 * so that a ratio can be read against what each side spends.
 * The reference needs root (saslauthd -a pam reads only /etc/pam.d), sasl2-bin and libpam-mysql;
 * without them the run says so and measures ours alone. Any wrong answer fails the run.
 * The load comes from bench/mux-load.c (blocking threads, as libsasl2 asks) when a C
 * compiler is there, else from the Node generator; --generator c|node picks one.
 * --wrong-passwords repeat|distinct: each user's wrong password is always the same one (the
 * default, as a phone with an old password sends it), or a new one every time (a guesser).
 * --rounds N (3) runs every daemon N times, alternating; the ratios are taken within each round
 * and the median round is checked against the targets (paired-ratios.ts).
 * Then the open loop (mux-load's open mode, or bench/open-loop.ts with --generator node): every
 * login a miss, Poisson arrivals at 50% and 80% of each daemon's measured capacity (and ours at
 * 80% of saslauthd's, the same traffic), latency counted from when each login was due: what an
 * MTA sees at a given load.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadNativeCrypt } from '../src/crypt/native-crypt.js';
import { buildBareServer } from './bare-server-build.js';
import { buildCGenerator, OPEN_LOOP_THREADS, runCLoad, runCOpenLoop } from './c-load-generator.js';
import { runLoad, type LoadOptions, type LoadResult, type WrongPasswords } from './load-generator.js';
import { makeBenchMailboxes, seedMailboxes } from './mailbox-seed.js';
import { ThrowawayServer } from '../test/helpers/throwaway-mariadb.js';
import { ThrowawayRedis } from '../test/helpers/throwaway-redis.js';
import { mariadbPid, processCpuMicros } from './process-cpu.js';
import { nameResolution, referenceMissing } from './reference-setup.js';
import { waitForSocket } from './wait-for-socket.js';
import { describeTarget, formatRatio, median as medianOf, pairedRatios, type Target } from './paired-ratios.js';
import { runOpenLoop, type OpenLoopOptions, type OpenLoopResult } from './open-loop.js';
import { INSTALLED_V8_FLAGS } from './gc-tally.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    users: { type: 'string', default: '2000' },
    wrong: { type: 'string', default: '0.2' },
    hot: { type: 'string', default: '100' },
    // c: bench/mux-load.c, threads that ask as libsasl2 does; node: load-generator.ts; auto: c when it compiles.
    generator: { type: 'string', default: 'auto' },
    // How both daemons reach MariaDB: tcp (host=127.0.0.1:port) or socket (host=/path/mysqld.sock, what host=localhost means).
    db: { type: 'string', default: 'tcp' },
    // Each round runs every daemon once; ratios are taken within a round and the median round is reported.
    rounds: { type: 'string', default: '3' },
    // repeat: each user's wrong password is always the same (a phone with an old password);
    // distinct: a new one every time (a password guesser), which no cache can answer.
    'wrong-passwords': { type: 'string', default: 'repeat' },
    // Another build's dist/cli/main.js, run in every round beside this one: an A/B of two versions in one run.
    baseline: { type: 'string' },
    // Run only these scenarios (comma-separated): misses, hot, memory, open (open needs misses). Default: all four.
    only: { type: 'string', default: 'misses,hot,memory,open' },
  },
});
const WRONG_PASSWORDS = args['wrong-passwords'] as WrongPasswords;
if (!['repeat', 'distinct'].includes(WRONG_PASSWORDS)) throw new Error(`--wrong-passwords must be repeat or distinct, not ${WRONG_PASSWORDS}`);
if (!['tcp', 'socket'].includes(args.db)) throw new Error(`--db must be tcp or socket, not ${args.db}`);
if (!['auto', 'c', 'node'].includes(args.generator)) throw new Error(`--generator must be auto, c or node, not ${args.generator}`);
const DURATION_MS = Number(args.duration) * 1000;
const USERS = Number(args.users);
const WRONG = Number(args.wrong);
const HOT = Number(args.hot);
const ROUNDS = Number(args.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds must be a whole number of at least 1, not ${args.rounds}`);
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const ONLY = new Set(args.only.split(','));
if (ONLY.has('open') && !ONLY.has('misses')) throw new Error('--only open needs misses too: the open-loop rates are shares of the capacity the misses scenario measures');
for (const name of ONLY) if (!['misses', 'hot', 'memory', 'open'].includes(name)) throw new Error(`--only takes misses, hot, memory and open, not ${name}`);
const BASELINE = args.baseline === undefined ? undefined : path.resolve(args.baseline);
if (BASELINE !== undefined && !existsSync(BASELINE)) throw new Error(`--baseline ${BASELINE} does not exist (give another build's dist/cli/main.js)`);
/** The installed command's V8 flags (its #! line); the floor runs with them too. */
const V8_FLAGS = INSTALLED_V8_FLAGS;
/** How `npm start` runs the daemon: node, the flags its script gives, then the command. */
const NPM_START_FLAGS = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts.start!.split(' ').filter((word) => word.startsWith('--') && word.includes('='));

interface Daemon {
  readonly child: ChildProcess;
  readonly socketPath: string;
  /** Peak resident memory of the daemon and its child processes, MB. */
  peakRssMb(): number;
  /** CPU time of the daemon and its child processes so far, microseconds. */
  cpuMicros(): number;
  stop(): Promise<void>;
}

function vmHwmKb(pid: number): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(pid);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Created is not yet accepting at full speed: give the daemon a moment before measuring. */
async function waitUntilServing(socketPath: string, child: ChildProcess): Promise<void> {
  await waitForSocket(socketPath, child);
  await new Promise((r) => setTimeout(r, 200));
}

async function startDaemon(command: string, argv: string[], socketPath: string): Promise<Daemon> {
  // Its own process group, so that saslauthd's workers stop with it.
  const child = spawn(command, argv, { stdio: 'ignore', detached: true });
  await waitUntilServing(socketPath, child);
  return {
    child,
    socketPath,
    peakRssMb: () => [child.pid!, ...childrenOf(child.pid!)].reduce((sum, pid) => sum + vmHwmKb(pid), 0) / 1024,
    cpuMicros: () => [child.pid!, ...childrenOf(child.pid!)].reduce((sum, pid) => sum + processCpuMicros(pid), 0),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        // saslauthd -c has been seen to ignore SIGTERM with workers left as zombies: a run must still end.
        const kill = setTimeout(() => {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            // The group is already gone.
          }
        }, 5_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        process.kill(-child.pid!, 'SIGTERM');
      }),
  };
}

const mb = (n: number) => n.toFixed(1);
const NAME_WIDTH = 30;
/** CPU per login, microseconds: the daemon's (worker processes included) and MariaDB's. */
interface CpuPerLogin {
  readonly daemon: number;
  readonly database: number;
}
function row(name: string, result: LoadResult, rssMb: number, cpu: CpuPerLogin): string {
  return `  ${name.padEnd(NAME_WIDTH)}${result.perSecond.toFixed(0).padStart(9)}${result.p50Ms.toFixed(2).padStart(9)}${result.p99Ms.toFixed(2).padStart(9)}${mb(rssMb).padStart(10)}${String(result.wrongAnswers).padStart(8)}${String(result.noReply).padStart(10)}${result.generatorCpuPercent.toFixed(0).padStart(8)}%${cpu.daemon.toFixed(0).padStart(14)}${cpu.database.toFixed(0).padStart(8)}`;
}
/** The median of a contender's rates, to print beside a ratio. */
const rateOf = (runs: readonly LoadResult[]) => `${medianOf(runs.map((r) => r.perSecond)).toFixed(0)}/s`;

interface Generator {
  readonly description: string;
  run(options: LoadOptions): Promise<LoadResult>;
  /** The open loop, by the same generator. */
  readonly openDescription: string;
  open(options: OpenLoopOptions): Promise<OpenLoopResult>;
}

function chooseGenerator(): Generator {
  const node: Generator = { description: 'load generator: Node (bench/load-generator.ts), one process', run: runLoad, openDescription: 'Node generator', open: runOpenLoop };
  if (args.generator === 'node') return node;
  const build = buildCGenerator();
  if (build.ok) {
    return {
      description: `load generator: C (bench/mux-load.c), one blocking thread per client, asking as libsasl2 does`,
      run: (options) => runCLoad(build.binary, options),
      openDescription: `C generator, ${OPEN_LOOP_THREADS} threads`,
      open: (options) => runCOpenLoop(build.binary, options),
    };
  }
  if (args.generator === 'c') throw new Error(`--generator c: ${build.reason}`);
  return { ...node, description: `${node.description} (the C generator could not be built: ${build.reason})` };
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build"`);
  const work = mkdtempSync(path.join(os.tmpdir(), 'sm-bench-'));
  const service = `sm-bench-${randomBytes(3).toString('hex')}`;
  const referencePam = path.join('/etc/pam.d', service);
  const missing = referenceMissing();
  const server = await ThrowawayServer.create();
  const redis = ONLY.has('memory') ? await ThrowawayRedis.launch() : undefined;
  let failed = false;
  try {
    const mailboxes = makeBenchMailboxes(USERS);
    await seedMailboxes(server, mailboxes);
    const { users } = mailboxes;
    const host = args.db === 'socket' ? server.socketPath : `127.0.0.1:${server.port}`;
    const line = `pam_mysql.so user=sasl passwd=sasl-pw host=${host} db=postfix table=mailbox usercolumn=username passwdcolumn=password crypt=1 md5=1 where=active=1`;
    const pamText = `auth    required   ${line}\naccount sufficient ${line}\n`;
    const pamDir = path.join(work, 'pam.d');
    mkdirSync(pamDir);
    writeFileSync(path.join(pamDir, service), pamText);
    if (!missing) writeFileSync(referencePam, pamText);
    const passwordsFile = path.join(work, 'passwords');
    writeFileSync(passwordsFile, users.map((u) => `${u.login}\t${u.password}`).join('\n') + '\n');
    const databasePid = mariadbPid(server.dataDir);
    // Every listener on, for the memory scenario: Dovecot's auth protocol and its policy, metrics, a shared throttle.
    const policySecret = path.join(work, 'policy.secret');
    writeFileSync(policySecret, randomBytes(32).toString('hex'), { mode: 0o600 });
    const storeKey = path.join(work, 'store.key');
    writeFileSync(storeKey, randomBytes(32).toString('hex'), { mode: 0o600 });
    const everyListener = redis ? ['--throttle-after', '5', '--dovecot-listen', '127.0.0.1:0', '--dovecot-policy-listen', '127.0.0.1:0', '--dovecot-policy-secret-file', policySecret, '--metrics-port', '0', '--throttle-store', redis.url, '--throttle-store-key-file', storeKey] : [];

    console.log(`saslauthd-mysql load benchmark: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, node ${process.version}, ${USERS} md5crypt users, ${WRONG * 100}% wrong passwords (${WRONG_PASSWORDS === 'repeat' ? "each user's always the same one" : 'a new one every time'}), ${DURATION_MS / 1000} s per run, one connection per request`);
    console.log(`database: ${args.db === 'socket' ? `UNIX socket (host=${host})` : `TCP (host=${host})`}, the same PAM line for both`);
    console.log(missing ? `reference saslauthd + pam_mysql: not measured: ${missing}` : 'reference: saslauthd -a pam -r + pam_mysql (Debian), same PAM line, same database, same load');
    console.log(`MariaDB: ${await nameResolution(server.port)}`);
    const native = loadNativeCrypt();
    console.log(native.loaded ? 'saslauthd-mysql: md5crypt by libxcrypt through the native addon' : `saslauthd-mysql: md5crypt in JavaScript: ${native.reason}`);

    if (BASELINE) console.log(`baseline: ${BASELINE}, run beside this build in every round with the same options`);
    const generator = chooseGenerator();
    const bareServer = buildBareServer();
    console.log(generator.description);

    const scenarios = [
      { title: 'every login a cache miss', clients: 16, hot: undefined, ours: ['--verify-cache', '0'], theirs: ['-n', '16'], targets: 'misses' },
      { title: `${HOT} hot users, repeat logins`, clients: 32, hot: HOT, ours: [], theirs: ['-n', '16', '-c'], oursCached: ['-c'], floor: true, targets: 'hot' },
      // The floor here says what Node itself holds at this load: the part of the peak no change to the daemon can take away.
      { title: 'peak memory at 64 clients, every listener on (mux, Dovecot, Dovecot policy, metrics, Redis throttle store)', clients: 64, hot: undefined, ours: everyListener, theirs: undefined, npmStart: true, floor: true, targets: 'memory' },
    ];
    const targets: Target[] = [];
    /** The misses scenario's runs, by contender: the open loop's rates are shares of them. */
    const capacities: Record<string, LoadResult[]> = {};
    for (const scenario of scenarios.filter(({ targets: kind }) => ONLY.has(kind))) {
      console.log(`\n${scenario.title}, ${scenario.clients} clients${ROUNDS > 1 ? `, ${ROUNDS} rounds` : ''}`);
      console.log(`  ${''.padEnd(NAME_WIDTH)}${'auths/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'peak MB'.padStart(10)}${'wrong'.padStart(8)}${'no reply'.padStart(10)}${'gen CPU'.padStart(9)}${'CPU us/login'.padStart(14)}${'MariaDB'.padStart(8)}`);
      const results: Record<string, LoadResult[]> = {};
      const peaksMb: number[] = [];
      const baselinePeaksMb: number[] = [];
      const npmStartPeaksMb: number[] = [];
      const floorPeaksMb: number[] = [];
      const contenders: Array<[string, string, string[] | undefined]> = [
        // The floor: a bare Node server that only parses and answers, with the installed command's V8 flags.
        ['bare Node server (floor)', process.execPath, 'floor' in scenario ? [...V8_FLAGS, bareServer, '--passwords', passwordsFile] : undefined],
        // The command as installed: its shebang carries the V8 settings it ships with.
        // The throttle is off: 20% wrong passwords at random would now and then delay a client, which measures the throttle, not the daemon.
        ['saslauthd-mysql', CLI, ['-a', 'pam', '-r', '--pam-dir', pamDir, '--throttle-after', '0', ...scenario.ours]],
        ['saslauthd-mysql -c', CLI, 'oursCached' in scenario ? ['-a', 'pam', '-r', '--pam-dir', pamDir, '--throttle-after', '0', ...scenario.oursCached] : undefined],
        ...(BASELINE
          ? ([
              ['baseline', BASELINE, ['-a', 'pam', '-r', '--pam-dir', pamDir, '--throttle-after', '0', ...scenario.ours]],
              ['baseline -c', BASELINE, 'oursCached' in scenario ? ['-a', 'pam', '-r', '--pam-dir', pamDir, '--throttle-after', '0', ...scenario.oursCached] : undefined],
            ] satisfies Array<[string, string, string[] | undefined]>)
          : []),
        ['saslauthd + pam_mysql', '/usr/sbin/saslauthd', missing ? undefined : scenario.theirs && ['-a', 'pam', '-r', ...scenario.theirs, '-d']],
        // The same daemon as `npm start` runs it: node, the script's flags, the command.
        ['saslauthd-mysql via npm start', process.execPath, 'npmStart' in scenario ? [...NPM_START_FLAGS, CLI, '-a', 'pam', '-r', '--pam-dir', pamDir, ...((scenario.ours as readonly string[]).includes('--throttle-after') ? [] : ['--throttle-after', '0']), ...scenario.ours] : undefined],
      ];
      for (let round = 1; round <= ROUNDS; round += 1) {
        for (const [name, command, argv] of contenders) {
          if (!argv) continue;
          const runDir = path.join(work, `${name.replace(/\W+/g, '-')}-${scenario.clients}-${round}`);
          mkdirSync(runDir);
          const socketPath = path.join(runDir, 'mux');
          const daemon = await startDaemon(command, [...argv, '-m', runDir], socketPath);
          try {
            const load = { socketPath, clients: scenario.clients, users, realm: 'example.org', service, wrongShare: WRONG, wrongPasswords: WRONG_PASSWORDS, ...(scenario.hot ? { hotSet: scenario.hot } : {}) };
            await generator.run({ ...load, durationMs: 1000 });
            if (name === 'saslauthd + pam_mysql' && round === 1) console.log(`  (reference set-up: ${childrenOf(daemon.child.pid!).length} saslauthd worker processes for ${scenario.theirs!.join(' ')})`);
            const cpuBefore = { daemon: daemon.cpuMicros(), database: processCpuMicros(databasePid) };
            const result = await generator.run({ ...load, durationMs: DURATION_MS });
            const cpu = { daemon: (daemon.cpuMicros() - cpuBefore.daemon) / result.requests, database: (processCpuMicros(databasePid) - cpuBefore.database) / result.requests };
            (results[name] ??= []).push(result);
            const peakMb = daemon.peakRssMb();
            if (command === CLI) peaksMb.push(peakMb);
            if (command === BASELINE) baselinePeaksMb.push(peakMb);
            if (name === 'saslauthd-mysql via npm start') npmStartPeaksMb.push(peakMb);
            if (name === 'bare Node server (floor)') floorPeaksMb.push(peakMb);
            console.log(row(ROUNDS > 1 ? `${name} #${round}` : name, result, peakMb, cpu));
            if (result.wrongAnswers > 0) failed = true;
          } finally {
            await daemon.stop();
          }
        }
      }
      if (scenario.targets === 'misses') Object.assign(capacities, results);
      const ours = results['saslauthd-mysql'];
      const oursCached = results['saslauthd-mysql -c'];
      const theirs = results['saslauthd + pam_mysql'];
      const median = ROUNDS > 1 ? ' (median round, and the range)' : '';
      if (ours && theirs) {
        const ratios = pairedRatios(ours, theirs);
        console.log(`  ratio${median}: throughput ${formatRatio(ratios.throughput)}, p99 ${formatRatio(ratios.p99)} (ours ${rateOf(ours)} / theirs ${rateOf(theirs)})`);
        if (scenario.targets === 'misses') {
          targets.push({ what: 'misses, throughput ratio', value: ratios.medianThroughput, bound: 'at-least', limit: 5 });
          targets.push({ what: 'misses, p99 ratio', value: ratios.medianP99, bound: 'at-most', limit: 0.2 });
        }
      }
      if (oursCached && theirs) {
        const ratios = pairedRatios(oursCached, theirs);
        console.log(`  ratio with -c on both${median}: throughput ${formatRatio(ratios.throughput)}, p99 ${formatRatio(ratios.p99)} (ours ${rateOf(oursCached)} / theirs ${rateOf(theirs)})`);
        if (scenario.targets === 'hot') targets.push({ what: 'hot users, throughput ratio with -c on both', value: ratios.medianThroughput, bound: 'at-least', limit: 3 });
      }
      if (oursCached && ours) {
        const ratios = pairedRatios(oursCached, ours);
        console.log(`  -c / the default cache${median}: throughput ${formatRatio(ratios.throughput)} (${rateOf(oursCached)} / ${rateOf(ours)})`);
        targets.push({ what: 'hot users, throughput -c / the default cache', value: ratios.medianThroughput, bound: 'above', limit: 1 });
      }
      const floor = results['bare Node server (floor)'];
      if (floor && oursCached && scenario.targets === 'hot') {
        const ratios = pairedRatios(oursCached, floor);
        console.log(`  -c / the floor${median}: throughput ${formatRatio(ratios.throughput)} (${rateOf(oursCached)} / ${rateOf(floor)}), with ${WRONG * 100}% wrong passwords`);
        targets.push({ what: `hot users, throughput -c / a bare Node server, ${WRONG * 100}% wrong passwords`, value: ratios.medianThroughput, bound: 'at-least', limit: 0.7 });
      }
      for (const [label, mine, before] of [['', ours, results.baseline], [' -c', oursCached, results['baseline -c']]] as const) {
        if (!mine || !before) continue;
        const ab = pairedRatios(mine, before);
        console.log(`  this build / baseline${label}${median}: throughput ${formatRatio(ab.throughput)}, p99 ${formatRatio(ab.p99)}`);
        if (theirs) console.log(`  baseline${label} / reference${median}: throughput ${formatRatio(pairedRatios(before, theirs).throughput)}, p99 ${formatRatio(pairedRatios(before, theirs).p99)}`);
      }
      if (scenario.targets === 'memory' && baselinePeaksMb.length > 0) console.log(`  peak MB, highest round: this build ${mb(Math.max(...peaksMb))}, baseline ${mb(Math.max(...baselinePeaksMb))}`);
      if (scenario.targets === 'memory' && floorPeaksMb.length > 0) console.log(`  peak MB, highest round: saslauthd-mysql ${mb(Math.max(...peaksMb))}, the bare Node server (floor) ${mb(Math.max(...floorPeaksMb))}`);
      if (scenario.targets === 'memory' && peaksMb.length > 0) targets.push({ what: 'peak MB at 64 clients, every listener on, highest round', value: Math.max(...peaksMb), bound: 'at-most', limit: 80 });
      if (scenario.targets === 'memory' && peaksMb.length > 0 && npmStartPeaksMb.length > 0) {
        console.log(`  peak MB, highest round: as installed ${mb(Math.max(...peaksMb))}, via npm start ${mb(Math.max(...npmStartPeaksMb))}`);
        targets.push({ what: 'peak MB at 64 clients via npm start / as installed', value: Math.max(...npmStartPeaksMb) / Math.max(...peaksMb), bound: 'at-most', limit: 1.05 });
      }
    }
    if (ONLY.has('open')) {
      const capacity = (name: string) => (capacities[name] && capacities[name].length > 0 ? medianOf(capacities[name].map((r) => r.perSecond)) : undefined);
      const ours = capacity('saslauthd-mysql');
      const theirs = capacity('saslauthd + pam_mysql');
      console.log(`\nopen loop, every login a cache miss: Poisson arrivals at a fixed rate, latency from when each login was due (${generator.openDescription}, ${DURATION_MS / 1000} s per rate)`);
      const openWidth = NAME_WIDTH + 20;
      console.log(`  ${''.padEnd(openWidth)}${'offered/s'.padStart(10)}${'answered/s'.padStart(11)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'p99.9 ms'.padStart(10)}${'max ms'.padStart(9)}${'wrong'.padStart(7)}${'no reply'.padStart(10)}${'gen CPU'.padStart(9)}${'late'.padStart(7)}`);
      const plans: Array<[string, string, string[] | undefined, Array<[string, number]>]> = [
        ['saslauthd-mysql', CLI, ['-a', 'pam', '-r', '--pam-dir', pamDir, '--throttle-after', '0', '--verify-cache', '0'], ours ? [['50% of its capacity', 0.5 * ours], ['80% of its capacity', 0.8 * ours], ...(theirs ? ([['80% of saslauthd\'s', 0.8 * theirs]] as Array<[string, number]>) : [])] : []],
        ['saslauthd + pam_mysql', '/usr/sbin/saslauthd', missing ? undefined : ['-a', 'pam', '-r', '-n', '16', '-d'], theirs ? [['50% of its capacity', 0.5 * theirs], ['80% of its capacity', 0.8 * theirs]] : []],
      ];
      // With --baseline, the other build gets the same offered rates as this one: an A/B under the same traffic.
      if (BASELINE) plans.splice(1, 0, ['baseline', BASELINE, plans[0]![2], plans[0]![3].map(([label, rate]) => [label.replace('its capacity', "this build's capacity"), rate])]);
      for (const [name, command, argv, rates] of plans) {
        if (!argv) continue;
        for (const [label, rate] of rates) {
          const runDir = path.join(work, `${name.replace(/\W+/g, '-')}-open-${Math.round(rate)}`);
          mkdirSync(runDir);
          const socketPath = path.join(runDir, 'mux');
          const daemon = await startDaemon(command, [...argv, '-m', runDir], socketPath);
          try {
            const load = { socketPath, ratePerSecond: rate, users, realm: 'example.org', service, wrongShare: WRONG };
            await generator.open({ ...load, durationMs: 1000 });
            const r = await generator.open({ ...load, durationMs: DURATION_MS });
            if (r.wrongAnswers > 0) failed = true;
            console.log(`  ${`${name}, ${label}`.padEnd(openWidth)}${r.offeredPerSecond.toFixed(0).padStart(10)}${r.answeredPerSecond.toFixed(0).padStart(11)}${r.p50Ms.toFixed(2).padStart(9)}${r.p99Ms.toFixed(2).padStart(9)}${r.p999Ms.toFixed(2).padStart(10)}${r.maxMs.toFixed(0).padStart(9)}${String(r.wrongAnswers).padStart(7)}${String(r.noReply).padStart(10)}${`${r.generatorCpuPercent.toFixed(0)}%`.padStart(9)}${String(r.lateSends).padStart(7)}`);
          } finally {
            await daemon.stop();
          }
        }
      }
    }
    if (targets.length > 0) {
      console.log('\ntargets (docs/BENCHMARKS.md)');
      for (const target of targets) console.log(`  ${describeTarget(target)}`);
    }
    if (failed) console.log('\nFAILED: wrong answers were given (see the "wrong" column)');
  } finally {
    await server.destroy();
    await redis?.destroy();
    if (!missing) rmSync(referencePam, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
  process.exitCode = failed ? 1 : 0;
}

await main();
