/**
 * A real three-node MariaDB Galera cluster under the benchmark's load,
 * bounded for CI (bench/galera-run.ts): nodes killed until the last loses
 * quorum, then restarted until the cluster re-forms. The daemon must never
 * answer OK to a wrong password nor NO to a right one (a node without
 * quorum answers 1047: a down host), must recover by itself, and must hold
 * no more connections than its pools allow. Needs root, galera-4 and rsync;
 * fails (never skips) without them.
 */
import { describe, expect, it } from 'vitest';
import { CLI, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';
import { galeraProblems } from '../helpers/galera.js';
import { afterThisTest } from '../helpers/cleanup.js';
import { SECRET_MD5CRYPT, seedMailboxServer } from '../helpers/mysql.js';
import { ThrowawayServer } from '../helpers/throwaway-mariadb.js';
import { faultReportProblems, formatFaultReport } from '../../bench/fault-run.js';
import { runGaleraScenario } from '../../bench/galera-run.js';

describe('a Galera cluster under load', () => {
  it('fails over, treats a node without quorum as down, and recovers when the cluster re-forms', async () => {
    expect(galeraProblems()).toEqual([]);
    // A plain server with the same mailboxes: the host after the quorum-less node in the second check.
    const healthy = await ThrowawayServer.create();
    afterThisTest(() => healthy.destroy());
    await seedMailboxServer(healthy, [{ username: 'alice@example.org', password: SECRET_MD5CRYPT }], { user: 'sasl', password: 'sasl-pw' });
    const checkOn = async (hosts: string) => {
      const result = await runCli(['check', '-a', 'mysql', '-m', tempDir(), '--user', 'alice@example.org'], { env: { ...process.env, SASLAUTHD_MYSQL_DB_HOSTS: hosts, SASLAUTHD_MYSQL_DB_DATABASE: 'postfix', SASLAUTHD_MYSQL_DB_USER: 'sasl', SASLAUTHD_MYSQL_DB_PASSWORD: 'sasl-pw', SASLAUTHD_MYSQL_DB_TABLE: 'mailbox' } });
      return { code: result.code, stdout: result.stdout + result.stderr };
    };
    let check: { code: number | null; stdout: string } | undefined;
    let failover: { code: number | null; stdout: string } | undefined;
    const report = await runGaleraScenario({
      users: 300,
      clients: 8,
      phaseMs: 2500,
      wrongShare: 0.2,
      cli: CLI,
      // The health check is a table read: a node without quorum answers SELECT 1, but fails it.
      whileQuorumLost: async (port) => {
        check = await checkOn(`127.0.0.1:${port}`);
        // 1047 is the host's trouble, not the statement's: the next host is tried.
        failover = await checkOn(`127.0.0.1:${port},127.0.0.1:${healthy.port}`);
      },
    });
    expect(check?.code).toBe(1);
    expect(check?.stdout).toMatch(/problem: user alice@example\.org .*could not answer.*WSREP/);
    expect(failover?.stdout).toMatch(/ok: user alice@example\.org \(service smtp\): found/);
    expect(failover?.stdout).toContain('warn: database host failed; trying the next one');
    process.stderr.write(`[galera under load]\n${formatFaultReport(report)}\n`);
    expect(faultReportProblems(report)).toEqual([]);
    const phase = (name: string) => report.phases.find((p) => p.name.startsWith(name))!;
    // One node down is covered by the others...
    expect(phase('node 1 killed').ok).toBeGreaterThan(0);
    // ...and once the survivor lost quorum, every answer was a temporary failure (1047 is a down host).
    expect(phase('node 2 killed').noReply).toBeGreaterThan(0);
    expect(phase('node 2 killed').okInPlace).toBe(0);
    expect(phase('node 2 killed').noForRight).toBe(0);
    for (const p of report.phases) expect(p.requests).toBeGreaterThan(0);
  }, 300_000);
});
