/**
 * Database faults under load: the daemon (the real process, -a mysql with a
 * primary and a replica) serves the benchmark's closed-loop load while the
 * databases are stopped, made slow, restarted and failed over. Every answer
 * is counted per phase:
 *   - OK for a wrong password          must be 0
 *   - NO for a right password          must be 0 (an outage is "no reply", a temporary failure)
 *   - no reply                         the temporary failures the faults cause
 *   - recovery                         ms from a fault's end to the next OK
 * and afterwards the daemon must still run, and hold no more database
 * connections than its pools allow (none once it has stopped).
 *
 * Used by `npm run bench:faults` (figures for docs/BENCHMARKS.md) and, with
 * shorter phases, by test/integration/faults-under-load.test.ts.
 */
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { runLoad, type Sample } from './load-generator.js';
import { makeBenchMailboxes, seedMailboxes } from './mailbox-seed.js';
import { ThrowawayServer } from '../test/helpers/throwaway-mariadb.js';
import { rootTarget, type ServerAddress } from '../test/helpers/mysql.js';
import { startMysqlDaemon, type MysqlDaemonProcess } from './mysql-daemon-process.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
/** The daemon's per-host pool size in this run; more connections than this on a host would be a leak. */
const POOL_SIZE = 8;

export interface FaultRunOptions {
  readonly users: number;
  readonly clients: number;
  /** Length of each phase. */
  readonly phaseMs: number;
  readonly wrongShare: number;
  /** Progress lines go here. */
  readonly log?: (line: string) => void;
  /** The daemon's command (dist/cli/main.js); by default the one built next to this file. */
  readonly cli?: string;
  /** Keep the daemon's own log in this file (otherwise it is discarded). */
  readonly daemonLogFile?: string;
  /** The daemon's --answer-timeout; every answer must come within it. */
  readonly answerTimeoutMs?: number;
}

/** The daemon's --answer-timeout in these runs unless a run says otherwise (its default). */
const DEFAULT_ANSWER_TIMEOUT_MS = 10_000;
/** An answer may come this much after --answer-timeout (timer and scheduling slack) and still count as within it. */
const ANSWER_SLACK_MS = 250;

export interface PhaseCounts {
  readonly name: string;
  readonly requests: number;
  readonly ok: number;
  readonly no: number;
  readonly noReply: number;
  /** OK for a wrong password: must be 0. */
  readonly okForWrong: number;
  /** NO for a right password: must be 0. */
  readonly noForRight: number;
  /** Fault phases: OK answers that came once the fault was in place (0 when nothing could answer). */
  readonly okInPlace: number;
  /** Fault phases: from the fault being in place to the first OK (failover); recovery phases: from its end to the first OK. */
  readonly firstOkAfterMs: number | undefined;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly kind: Phase['kind'];
}

export interface FaultReport {
  readonly phases: PhaseCounts[];
  readonly daemonAlive: boolean;
  /** Connections the daemon's account held on each server at the end, while still running. */
  readonly connectionsWhileRunning: Readonly<Record<string, number>>;
  /** The same after the daemon stopped (must be 0). */
  readonly connectionsAfterStop: Readonly<Record<string, number>>;
  readonly poolSize: number;
  readonly answerTimeoutMs: number;
}

export interface Phase {
  readonly name: string;
  /** A fault begins, a fault ends, or neither. */
  readonly kind: 'steady' | 'fault' | 'recovery';
  /** Done at the start of the phase. */
  readonly enter: () => Promise<void>;
}

/** Connections the daemon's account (sasl) holds on a server (or on a port where one listens). */
export async function daemonConnections(server: ServerAddress): Promise<number> {
  const root = await mysql.createConnection({ ...rootTarget(server), user: 'root' });
  try {
    const [rows] = await root.query("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = 'sasl'");
    return Number((rows as Array<{ n: number | string }>)[0]!.n);
  } finally {
    await root.end();
  }
}

/** Holds a WRITE lock on the mailbox table from a session of its own: every lookup there waits. */
/** Lock the mailbox table: lookups on the server wait until the returned function unlocks it. */
export async function lockMailboxes(server: ServerAddress): Promise<() => Promise<void>> {
  const session = await mysql.createConnection({ ...rootTarget(server), user: 'root', database: 'postfix' });
  await session.query('LOCK TABLES mailbox WRITE');
  return async () => {
    await session.query('UNLOCK TABLES');
    await session.end();
  };
}

/**
 * The databases a scenario runs against, and the faults it makes: the daemon
 * is pointed at `hosts` (in order), and `connections` counts what it holds on
 * each server (a server that is down counts as holding none).
 */
export interface Topology {
  readonly hosts: string;
  readonly phases: readonly Phase[];
  connections(): Promise<Record<string, number>>;
}

/** A primary and a replica, each a throwaway server: stopped, locked, restarted. */
export async function runFaultScenario(options: FaultRunOptions): Promise<FaultReport> {
  const [primary, replica] = await Promise.all([ThrowawayServer.create(), ThrowawayServer.create()]);
  let unlock: (() => Promise<void>) | undefined;
  try {
    const mailboxes = makeBenchMailboxes(options.users);
    await Promise.all([seedMailboxes(primary, mailboxes), seedMailboxes(replica, mailboxes)]);
    return await runUnderLoad(options, mailboxes.users, {
      hosts: `127.0.0.1:${primary.port},127.0.0.1:${replica.port}`,
      connections: async () => ({ primary: await daemonConnections(primary), replica: await daemonConnections(replica) }),
      phases: [
        { name: 'steady (both servers up)', kind: 'steady', enter: async () => undefined },
        { name: 'primary stopped: fail over', kind: 'fault', enter: () => primary.stop() },
        { name: 'primary restarted', kind: 'recovery', enter: () => primary.start() },
        { name: 'primary slow (table locked)', kind: 'fault', enter: async () => void (unlock = await lockMailboxes(primary)) },
        { name: 'primary unlocked', kind: 'recovery', enter: async () => { await unlock?.(); unlock = undefined; } },
        { name: 'both servers stopped', kind: 'fault', enter: async () => void (await Promise.all([primary.stop(), replica.stop()])) },
        { name: 'both restarted', kind: 'recovery', enter: async () => void (await Promise.all([primary.start(), replica.start()])) },
      ],
    });
  } finally {
    await unlock?.().catch(() => undefined);
    await Promise.all([primary.destroy(), replica.destroy()]);
  }
}

/**
 * The daemon (the real process, -a mysql on `topology.hosts`) under
 * closed-loop load while the topology's phases make their faults; every
 * answer counted under the phase it came in.
 */
export async function runUnderLoad(options: FaultRunOptions, users: Parameters<typeof runLoad>[0]['users'], topology: Topology): Promise<FaultReport> {
  const log = options.log ?? (() => undefined);
  let daemon: MysqlDaemonProcess | undefined;
  try {
    daemon = await startMysqlDaemon({
      cli: options.cli ?? CLI,
      hosts: topology.hosts,
      poolSize: POOL_SIZE,
      args: ['--throttle-after', '0'],
      env: { SASLAUTHD_MYSQL_ANSWER_TIMEOUT: String(options.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS) },
      ...(options.daemonLogFile ? { logFile: options.daemonLogFile } : {}),
    });
    const { socketPath } = daemon;
    const { phases } = topology;

    // An answer belongs to the phase whose fault was being set up or in place when it came.
    const counts = phases.map((phase) => ({ name: phase.name, kind: phase.kind, requests: 0, ok: 0, no: 0, noReply: 0, okForWrong: 0, noForRight: 0, okInPlace: 0, firstOkAt: undefined as number | undefined, inPlaceAt: Infinity, latencies: [] as number[] }));
    let current = 0;
    const observe = (sample: Sample) => {
      const phase = counts[current]!;
      phase.requests += 1;
      phase.latencies.push(sample.ms);
      if (sample.answer === 'OK') {
        phase.ok += 1;
        if (sample.at >= phase.inPlaceAt) {
          phase.okInPlace += 1;
          phase.firstOkAt ??= sample.at;
        }
        if (sample.wrong) phase.okForWrong += 1;
      } else if (sample.answer === 'NO') {
        phase.no += 1;
        if (!sample.wrong) phase.noForRight += 1;
      } else {
        phase.noReply += 1;
      }
    };
    // The load runs until every phase has had its time, however long their setup took.
    let loadDone = false;
    const load = runLoad({ socketPath, clients: options.clients, durationMs: 3_600_000, until: () => loadDone, users, realm: 'example.org', service: 'smtp', wrongShare: options.wrongShare, requestTimeoutMs: 15_000, observe });
    for (let i = 0; i < phases.length; i += 1) {
      const phaseStart = performance.now();
      current = i;
      await phases[i]!.enter();
      // Recovery is timed from when the fault is over (a server start takes a while).
      counts[i]!.inPlaceAt = performance.now();
      log(`  ${phases[i]!.name} (in place after ${(counts[i]!.inPlaceAt - phaseStart).toFixed(0)} ms)`);
      // Each phase then has its full time with its fault in place, however long the setup took.
      const rest = options.phaseMs - (performance.now() - counts[i]!.inPlaceAt);
      if (rest > 0) await new Promise((r) => setTimeout(r, rest));
    }
    loadDone = true;
    await load;

    const daemonAlive = daemon.alive;
    // Let lookups abandoned by the faults finish on the servers before counting what is held.
    await new Promise((r) => setTimeout(r, 1500));
    const connectionsWhileRunning = await topology.connections();
    await daemon.stop();
    await new Promise((r) => setTimeout(r, 500));
    const connectionsAfterStop = await topology.connections();
    return {
      phases: counts.map(({ firstOkAt, inPlaceAt, latencies, ...phase }) => ({
        ...phase,
        firstOkAfterMs: phase.kind !== 'steady' && firstOkAt !== undefined ? firstOkAt - inPlaceAt : undefined,
        p99Ms: percentile99(latencies),
        maxMs: latencies.reduce((max, ms) => Math.max(max, ms), 0),
      })),
      daemonAlive,
      connectionsWhileRunning,
      connectionsAfterStop,
      poolSize: POOL_SIZE,
      answerTimeoutMs: options.answerTimeoutMs ?? DEFAULT_ANSWER_TIMEOUT_MS,
    };
  } finally {
    await daemon?.stop();
  }
}

function percentile99(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
}

/** The report as a table, for the console and docs/BENCHMARKS.md. */
export function formatFaultReport(report: FaultReport): string {
  const lines = [
    `| phase | requests | OK | NO | no reply | OK for a wrong password | NO for a right password | p99 ms | max ms | OK with the fault in place | first OK after the fault began (fault) or ended (recovery) |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
    ...report.phases.map(
      (p) =>
        `| ${p.name} | ${p.requests} | ${p.ok} | ${p.no} | ${p.noReply} | ${p.okForWrong} | ${p.noForRight} | ${p.p99Ms.toFixed(1)} | ${p.maxMs.toFixed(0)} | ${p.kind === 'fault' ? p.okInPlace : ''} | ${p.kind === 'steady' ? '' : p.firstOkAfterMs === undefined ? 'none' : `${p.firstOkAfterMs.toFixed(0)} ms`} |`,
    ),
    '',
    `daemon still running at the end: ${report.daemonAlive ? 'yes' : 'NO'}`,
    `database connections held by the daemon at the end: ${perServer(report.connectionsWhileRunning)} (pool size ${report.poolSize} per host)`,
    `after the daemon stopped: ${perServer(report.connectionsAfterStop)}`,
  ];
  return lines.join('\n');
}

/** Every invariant the run must keep; empty when all hold. */
export function faultReportProblems(report: FaultReport): string[] {
  const problems: string[] = [];
  for (const phase of report.phases) {
    if (phase.okForWrong > 0) problems.push(`${phase.name}: ${phase.okForWrong} OK for a wrong password`);
    if (phase.noForRight > 0) problems.push(`${phase.name}: ${phase.noForRight} NO for a right password`);
  }
  for (const phase of report.phases.filter((p) => p.kind === 'recovery')) {
    if (phase.firstOkAfterMs === undefined) problems.push(`${phase.name}: no OK after the fault ended: no recovery`);
  }
  for (const phase of report.phases) {
    if (phase.maxMs > report.answerTimeoutMs + ANSWER_SLACK_MS) problems.push(`${phase.name}: an answer took ${phase.maxMs.toFixed(0)} ms, past --answer-timeout (${report.answerTimeoutMs} ms)`);
  }
  if (!report.daemonAlive) problems.push('the daemon died');
  if (Object.values(report.connectionsWhileRunning).some((held) => held > report.poolSize)) problems.push(`more connections than the pool allows: ${perServer(report.connectionsWhileRunning)}`);
  if (Object.values(report.connectionsAfterStop).some((held) => held > 0)) problems.push(`connections left open after the daemon stopped: ${perServer(report.connectionsAfterStop)}`);
  return problems;
}

function perServer(counts: Readonly<Record<string, number>>): string {
  return Object.entries(counts).map(([server, held]) => `${server} ${held}`).join(', ');
}
