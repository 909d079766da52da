/**
 * Ratios of the load benchmark, over several rounds.
 *
 * On a shared 2-core machine one run of either daemon drifts by about ±10%,
 * and so does the ratio of one pair of runs: the same code gave p99 ratios of
 * 0.20 and 0.22, and hot-user ratios of 2.70 and 3.10, in two runs an hour
 * apart. So each round runs both daemons back to back, the ratio is taken
 * within the round (drift slower than a round cancels), and the report gives
 * the median round with the range, and checks the target on the median.
 */

export interface RoundFigures {
  readonly perSecond: number;
  readonly p99Ms: number;
}

export interface RatioSummary {
  /** ours / theirs per round, in round order. */
  readonly throughput: readonly number[];
  readonly p99: readonly number[];
  readonly medianThroughput: number;
  readonly medianP99: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Paired ratios; `ours[i]` and `theirs[i]` must come from the same round. */
export function pairedRatios(ours: readonly RoundFigures[], theirs: readonly RoundFigures[]): RatioSummary {
  if (ours.length !== theirs.length || ours.length === 0) throw new RangeError(`need the same number of rounds on both sides, got ${ours.length} and ${theirs.length}`);
  const throughput = ours.map((round, i) => round.perSecond / theirs[i]!.perSecond);
  const p99 = ours.map((round, i) => round.p99Ms / theirs[i]!.p99Ms);
  return { throughput, p99, medianThroughput: median(throughput), medianP99: median(p99) };
}

export interface Target {
  readonly what: string;
  readonly value: number;
  /** 'at-least': value >= limit; 'above': value > limit; 'at-most': value <= limit; 'below': value < limit. */
  readonly bound: 'at-least' | 'above' | 'at-most' | 'below';
  readonly limit: number;
}

/** One line per target, "met" or "MISSED", with the value to three places so a 0.2005 is not shown as 0.20. */
export function describeTarget(target: Target): string {
  const { value, limit } = target;
  const met = { 'at-least': value >= limit, above: value > limit, 'at-most': value <= limit, below: value < limit }[target.bound];
  const sign = { 'at-least': '>=', above: '>', 'at-most': '<=', below: '<' }[target.bound];
  return `${target.what} ${value.toFixed(3)} (target ${sign} ${limit}): ${met ? 'met' : 'MISSED'}`;
}

/** "x6.08 (5.95-6.21)": the median with the range of the rounds. */
export function formatRatio(values: readonly number[]): string {
  const low = Math.min(...values);
  const high = Math.max(...values);
  return values.length === 1 ? `x${values[0]!.toFixed(2)}` : `x${median(values).toFixed(2)} (${low.toFixed(2)}-${high.toFixed(2)})`;
}
