/**
 * Database faults under the benchmark's load, bounded for CI: the same run as
 * `npm run bench:faults` (bench/fault-run.ts) with short phases. A primary
 * stopped, restarted, locked and unlocked, then both servers stopped and
 * restarted, while 8 clients log in without pause.
 */
import { describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { faultReportProblems, formatFaultReport, runFaultScenario } from '../../bench/fault-run.js';

describe('database faults under load', () => {
  it('never answers OK to a wrong password nor NO to a right one, recovers by itself, and leaks no connection', async () => {
    const report = await runFaultScenario({ users: 300, clients: 8, phaseMs: 2000, wrongShare: 0.2, cli: CLI });
    process.stderr.write(`[faults under load]\n${formatFaultReport(report)}\n`);
    expect(faultReportProblems(report)).toEqual([]);

    const phase = (name: string) => report.phases.find((p) => p.name.startsWith(name))!;
    // The faults were real: with both servers down, answers stopped (temporary failures)...
    expect(phase('both servers stopped').noReply).toBeGreaterThan(0);
    expect(phase('both servers stopped').okInPlace).toBe(0);
    // ...while one server down or slow was covered by the other.
    expect(phase('primary stopped').ok).toBeGreaterThan(0);
    expect(phase('primary slow').ok).toBeGreaterThan(0);
    expect(phase('primary stopped').noReply).toBe(0);
    // And every phase carried load, wrong passwords included.
    for (const p of report.phases) expect(p.requests).toBeGreaterThan(0);
    expect(report.phases.reduce((sum, p) => sum + p.no, 0)).toBeGreaterThan(0);
  }, 120_000);
});
