/**
 * The soak's judgement (bench/soak-run.ts) on made-up runs: a flat run
 * passes, and each way a run can go wrong fails it, so a passing soak means
 * something.
 */
import { describe, expect, it } from 'vitest';
import { formatSoakReport, soakProblems, type SoakReport, type SoakSample } from '../../bench/soak-judgement.js';

const MIB = 1024 * 1024;

function sample(minute: number, changes: Partial<SoakSample> = {}): SoakSample {
  return { atMs: minute * 60_000, rssBytes: 120 * MIB, heapUsedBytes: 40 * MIB, fds: 40, handles: 22, dbConnections: 3, redisConnections: 1, mux: 1000, dovecot: 2000, noReply: 0, events: 'reload', ...changes };
}

function run(samples: SoakSample[], changes: Partial<SoakReport> = {}): SoakReport {
  return {
    samples,
    warmupSamples: 2,
    answers: { mux: 30_000, dovecot: 60_000, policy: 9_000, hangUps: 500, reloads: samples.length },
    wrongAnswers: 0,
    wrongExamples: [],
    rightUnansweredOutsideFaults: 0,
    faults: [
      { name: 'MariaDB', fromMs: 600_000, toMs: 604_000 },
      { name: 'Redis', fromMs: 1_200_000, toMs: 1_203_000 },
    ],
    daemonAlive: true,
    afterStop: { dbConnections: 0, redisConnections: 0 },
    ...changes,
  };
}

const flat = Array.from({ length: 30 }, (_, i) => sample(i + 1, { heapUsedBytes: (30 + (i % 3) * 20) * MIB }));

describe('the soak judgement', () => {
  it('passes a run whose figures stay flat (a heap that rises and falls between collections included)', () => {
    expect(soakProblems(run(flat))).toEqual([]);
  });

  it('judges the heap by its lowest sample, and only over ten minutes or more: the old generation fills for minutes between major collections', () => {
    // The heap-used samples of two two-minute CI runs (a sample every 10 s) that a median, then
    // a floor, wrongly called growth, with RSS flat.
    for (const heap of [
      [95.2, 75.6, 29.5, 31.8, 73.6, 49.2, 52.9, 51.9, 107.7, 127.7, 46.8, 71.0],
      [40.4, 71.1, 101.5, 26.4, 67.5, 64.7, 77.3, 83.6, 52.7, 96.6, 123.7, 51.1],
    ]) {
      const short = heap.map((mib, i) => sample(i / 6, { heapUsedBytes: mib * MIB }));
      expect(soakProblems(run(short))).toEqual([]);
      expect(formatSoakReport(run(short), 10_000)).toContain('heap: not judged');
    }
    // Over half an hour, a floor that rises from 30 to 70 MiB is growth.
    const risingFloor = flat.map((s, i) => ({ ...s, heapUsedBytes: (i < 16 ? 30 : 70) * MIB + (i % 2) * 40 * MIB }));
    expect(soakProblems(run(risingFloor)).join('\n')).toMatch(/heap used, lowest sample \(MiB\) grew: 30\.0 after the warm-up, 70\.0 at the end/);
    expect(formatSoakReport(run(risingFloor), 60_000)).not.toContain('heap: not judged');
  });

  it('judges RSS by the median of each half: a dip after a major collection, still climbing back beside a CPU hog, is no growth', () => {
    // A two-minute CI copy beside stress-ng (a sample every 10 s, the first two the warm-up).
    const rss = [172.9, 186.0, 143.9, 177.8, 180.3, 185.0, 189.2, 193.7, 194.4, 195.2, 197.0, 196.7];
    expect(soakProblems(run(rss.map((mib, i) => sample(i / 6, { rssBytes: mib * MIB }))))).toEqual([]);
    // The same run leaking a megabyte a second on top is growth. (Two minutes catch only a leak that fast;
    // the half-hour run's halves, a quarter of an hour apart, catch one of a few megabytes a minute.)
    const leaking = rss.map((mib, i) => sample(i / 6, { rssBytes: (mib + i * 10) * MIB }));
    expect(soakProblems(run(leaking)).join('\n')).toMatch(/RSS \(MiB\) grew/);
  });

  it('judges descriptors and handles by the median of each half: the connections in flight at each sample are no growth', () => {
    // A two-minute CI copy that did not grow, judged "33 after the warm-up, 41 at the end" by two samples a quarter.
    const fds = [34, 33, 43, 33, 45, 41, 36, 39, 42, 42, 44, 41];
    const handles = [16, 22, 24, 16, 27, 16, 25, 16, 23, 23, 25, 22];
    expect(soakProblems(run(fds.map((count, i) => sample(i / 6, { fds: count, handles: handles[i]! }))))).toEqual([]);
    // A descriptor lost every five seconds on top is growth in two minutes (one every ten is within the
    // allowance there; the half-hour run catches a few dozen an hour).
    const leaking = fds.map((count, i) => sample(i / 6, { fds: count + 2 * i }));
    expect(soakProblems(run(leaking)).join('\n')).toMatch(/open descriptors grew/);
  });

  it('fails a figure that keeps growing after the warm-up, whichever it is', () => {
    const growing: Array<[keyof SoakSample, (i: number) => number, RegExp]> = [
      ['rssBytes', (i) => (120 + i * 4) * MIB, /RSS \(MiB\) grew/],
      ['heapUsedBytes', (i) => (40 + i * 3) * MIB, /heap used, lowest sample \(MiB\) grew/],
      ['fds', (i) => 40 + i, /open descriptors grew/],
      ['handles', (i) => 22 + i, /active handles grew/],
      ['dbConnections', (i) => 3 + Math.floor(i / 6), /database connections grew/],
      ['redisConnections', (i) => 1 + Math.floor(i / 10), /Redis connections grew/],
    ];
    for (const [figure, value, message] of growing) {
      const samples = flat.map((s, i) => ({ ...s, [figure]: value(i) }));
      expect(soakProblems(run(samples)).join('\n')).toMatch(message);
    }
  });

  it('judges growth after the warm-up, and ignores a sample taken while a server was down', () => {
    const warmingUp = flat.map((s, i) => (i < 2 ? { ...s, rssBytes: 60 * MIB } : s));
    expect(soakProblems(run(warmingUp))).toEqual([]);
    const databaseDown = flat.map((s, i) => (i === 28 ? { ...s, dbConnections: NaN } : s));
    expect(soakProblems(run(databaseDown))).toEqual([]);
  });

  it('fails on a wrong answer, an unanswered right login outside the faults, a dead daemon, a silent listener, a missing restart, or connections left behind', () => {
    const failures: Array<[Partial<SoakReport>, RegExp]> = [
      [{ wrongAnswers: 1, wrongExamples: ['mux wrong user7: OK'] }, /1 wrong answers, e\.g\. mux wrong user7: OK/],
      [{ rightUnansweredOutsideFaults: 2 }, /2 right logins got no answer outside the faults/],
      [{ daemonAlive: false }, /the daemon died/],
      [{ answers: { mux: 10, dovecot: 0, hangUps: 0, reloads: 1 } }, /a listener answered nothing/],
      [{ answers: { mux: 10, dovecot: 10, policy: 0, hangUps: 0, reloads: 1 } }, /a listener answered nothing \(mux 10, dovecot 10, policy 0\)/],
      [{ faults: [{ name: 'MariaDB', fromMs: 1, toMs: 2 }] }, /only 1 of the 2 restarts happened/],
      [{ afterStop: { dbConnections: 1, redisConnections: 0 } }, /connections left after the daemon stopped/],
    ];
    for (const [change, message] of failures) expect(soakProblems(run(flat, change)).join('\n')).toMatch(message);
  });

  it('fails more database connections at once than two pools, and a run too short to judge', () => {
    expect(soakProblems(run(flat.map((s, i) => (i === 10 ? { ...s, dbConnections: 9 } : s)))).join('\n')).toMatch(/9 database connections at once/);
    expect(soakProblems(run(flat.slice(0, 4))).join('\n')).toMatch(/only 2 samples after the warm-up/);
  });
});
