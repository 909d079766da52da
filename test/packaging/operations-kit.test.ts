/**
 * The operations kit under docs/examples/: the Prometheus alert rules pass
 * promtool's check and their own unit tests (each alert fires on the series
 * that should fire it and stays quiet on a healthy daemon), and every metric
 * the rules and the Grafana dashboard query is one the daemon exports. The
 * journal recipes of docs/operations.md run on a journal as systemd writes it
 * (its own plain lines among the daemon's JSON).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEMO_HASH, startTestDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/temp.js';
import { journalJqRecipes } from '../helpers/doc-recipes.js';

const EXAMPLES = fileURLToPath(new URL('../../docs/examples/', import.meta.url));
const RULES = `${EXAMPLES}prometheus/saslauthd-mysql.rules.yml`;
const DASHBOARD = `${EXAMPLES}grafana/saslauthd-mysql.json`;

function promtool(...args: string[]) {
  return spawnSync('promtool', args, { encoding: 'utf8', cwd: `${EXAMPLES}prometheus` });
}

/** Metric names in PromQL expressions, as the daemon would export them (histograms by their series). */
function queried(text: string): Set<string> {
  return new Set([...text.matchAll(/saslauthd_mysql_[a-z0-9_]+/g)].map((match) => match[0]));
}

/** Every series name the daemon's /metrics names (a histogram's _bucket, _sum and _count included). */
async function exported(): Promise<Set<string>> {
  const { daemon } = await startTestDaemon([`demo:${DEMO_HASH}`], { metricsPort: '0' });
  const text = await (await fetch(`http://127.0.0.1:${daemon.metricsPort}/metrics`)).text();
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

/** What `journalctl -u saslauthd-mysql -o cat` prints: systemd's lines, the start-up preparation's, the daemon's JSON. */
const JOURNAL = [
  'Starting saslauthd-mysql.service - SASL authentication daemon for MySQL mailbox tables (saslauthd-mysql)...',
  "prepare-socket-dirs: /var/spool/postfix/var/run/saslauthd (saslauthd's) now belongs to saslauthd-mysql, group and mode kept",
  '{"level":30,"msg":"listening","version":"0.1.0"}',
  'Started saslauthd-mysql.service - SASL authentication daemon for MySQL mailbox tables (saslauthd-mysql).',
  '{"level":30,"event":"auth","user":"alice@example.org","remote":"192.0.2.7","result":"failure","code":"ERR_WRONG_PASSWORD","msg":"auth failure: [user=alice@example.org]"}',
  '{"level":30,"event":"auth","user":"alice@example.org","remote":"192.0.2.7","result":"failure","code":"ERR_WRONG_PASSWORD","msg":"auth failure: [user=alice@example.org]"}',
  '{"level":30,"event":"auth","user":"bob@example.org","result":"success","msg":"auth success: [user=bob@example.org]"}',
  '{"level":40,"event":"throttle","user":"alice@example.org","delayMs":500,"msg":"throttling: [user=alice@example.org]"}',
  'Stopping saslauthd-mysql.service - SASL authentication daemon for MySQL mailbox tables (saslauthd-mysql)...',
].join('\n');

describe('the journal recipes in docs/operations.md', () => {
  it('read the JSON lines and pass over systemd\'s own, with jq', () => {
    const recipes = journalJqRecipes();
    expect(recipes.length).toBe(2);
    const journal = path.join(tempDir(), 'journal');
    writeFileSync(journal, `${JOURNAL}\n`);
    const outputs = recipes.map((recipe) => {
      // journalctl stands in for itself: the recipe's options select what the file already holds.
      const result = spawnSync('/bin/bash', ['-c', `journalctl() { cat "$JOURNAL"; }; set -o pipefail; ${recipe}`], { encoding: 'utf8', env: { ...process.env, JOURNAL: journal } });
      expect(result.status, `${recipe}\n${result.stderr}`).toBe(0);
      return result.stdout;
    });
    expect(outputs[0]!.trim()).toMatch(/^2 alice@example\.org\t192\.0\.2\.7\tERR_WRONG_PASSWORD$/);
    expect(outputs[1]!.trim()).toBe('{"level":40,"event":"throttle","user":"alice@example.org","delayMs":500,"msg":"throttling: [user=alice@example.org]"}');
  });
});

describe('the operations kit', () => {
  it('has alert rules promtool accepts, whose unit tests pass', () => {
    const check = promtool('check', 'rules', RULES);
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const test = promtool('test', 'rules', 'saslauthd-mysql.rules_test.yml');
    expect(test.status, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toContain('SUCCESS');
    // Every alert the rules define has a test that expects it to fire.
    const rules = readFileSync(RULES, 'utf8');
    const tests = readFileSync(`${EXAMPLES}prometheus/saslauthd-mysql.rules_test.yml`, 'utf8');
    for (const [, alert] of rules.matchAll(/- alert: (\S+)/g)) expect(tests, alert).toMatch(new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`));
  });

  it('queries only metrics the daemon exports, in the rules and in the dashboard', async () => {
    const names = await exported();
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    const inDashboard = queried(dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr)).join('\n'));
    const inRules = queried(readFileSync(RULES, 'utf8'));
    expect(inDashboard.size).toBeGreaterThan(8);
    for (const metric of [...inDashboard, ...inRules]) expect(names, metric).toContain(metric);
  });
});
