/**
 * The soak's judgement and its report (bench/soak-run.ts runs it): what one
 * interval's figures are, what counts as growing, and the table
 * docs/BENCHMARKS.md records.
 */

export const MIB = 1024 * 1024;
/** The daemon's database pool in the soak: two pools' worth open at once (a reload's old and new) is the most allowed. */
export const POOL_SIZE = 4;

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
  /** `policy`: allows answered, when policy clients ran. */
  readonly answers: { readonly mux: number; readonly dovecot: number; readonly policy?: number; readonly hangUps: number; readonly reloads: number };
  /** Every wrong answer, described (at most a few kept). */
  readonly wrongAnswers: number;
  readonly wrongExamples: string[];
  /** Right logins left without an answer outside the faults. */
  readonly rightUnansweredOutsideFaults: number;
  /** Which listener, and when the request was sent, for the first few of them. */
  readonly unansweredExamples?: readonly string[];
  readonly faults: { readonly name: string; readonly fromMs: number; readonly toMs: number }[];
  readonly daemonAlive: boolean;
  readonly afterStop: { readonly dbConnections: number; readonly redisConnections: number };
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
  if (report.rightUnansweredOutsideFaults > 0) {
    const examples = report.unansweredExamples?.length ? `, e.g. ${report.unansweredExamples.join('; ')}` : '';
    problems.push(`${report.rightUnansweredOutsideFaults} right logins got no answer outside the faults${examples}`);
  }
  if (!report.daemonAlive) problems.push('the daemon died');
  if (report.answers.mux === 0 || report.answers.dovecot === 0 || report.answers.policy === 0) {
    problems.push(`a listener answered nothing (mux ${report.answers.mux}, dovecot ${report.answers.dovecot}${report.answers.policy === undefined ? '' : `, policy ${report.answers.policy}`})`);
  }
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
    `answers: mux ${report.answers.mux}, dovecot ${report.answers.dovecot}${report.answers.policy === undefined ? '' : `, policy allows ${report.answers.policy}`}; hang-ups ${report.answers.hangUps}; reloads ${report.answers.reloads}; wrong answers ${report.wrongAnswers}; right logins unanswered outside the faults ${report.rightUnansweredOutsideFaults}`,
    `restarts: ${report.faults.map((f) => `${f.name} at ${(f.fromMs / 1000).toFixed(0)} s (${((f.toMs - f.fromMs) / 1000).toFixed(1)} s)`).join(', ')}`,
    `daemon alive at the end: ${report.daemonAlive ? 'yes' : 'NO'}; after it stopped: database connections ${report.afterStop.dbConnections}, Redis connections ${report.afterStop.redisConnections}`,
    ...(heapJudged(report) ? [] : [`heap: not judged (its floor is judged over ${HEAP_JUDGED_OVER_MS / 60_000} minutes or more after the warm-up; this run is judged by RSS)`]),
  ].join('\n');
}

/** m:ss since the start. */
export function clock(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

/** The middle of the values measured (a sample taken while a server was down has none). */
function median(values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor((sorted.length - 1) / 2)]!;
}
