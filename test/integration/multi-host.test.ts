/**
 * Several mail hosts, bounded for CI (bench/multi-host-run.ts): three daemon
 * processes, one Redis, a three-node Galera cluster. A guesser spreading its
 * guesses for one user over the three, while they serve everyday logins,
 * gets no more than against one host; three hosts counting alone give it
 * about three times as much (the measure can fail). Needs root, galera-4,
 * rsync and redis-server; fails (never skips) without them.
 */
import { describe, expect, it } from 'vitest';
import { CLI } from '../helpers/cli.js';
import { galeraProblems } from '../helpers/galera.js';
import { redisProblems } from '../helpers/throwaway-redis.js';
import { formatMultiHostReport, multiHostProblems, runMultiHost } from '../../bench/multi-host-run.js';

describe('three mail hosts sharing Redis and a Galera cluster', () => {
  it('give a guesser spread over them the bound of one host, while serving everyday logins', async () => {
    expect([...galeraProblems(), ...redisProblems()]).toEqual([]);
    const guessMs = 4_000;
    const report = await runMultiHost({ users: 300, clientsPerHost: 2, guessMs, guessers: 6, cli: CLI });
    process.stderr.write(`[multi-host]\n${formatMultiHostReport(report, guessMs)}\n`);
    expect(multiHostProblems(report)).toEqual([]);
    expect(report.everyday.requests).toBeGreaterThan(0);
  }, 240_000);
});
