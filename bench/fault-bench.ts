/**
 * npm run bench:faults: database faults under the benchmark's load
 * (bench/fault-run.ts), printed as the table docs/BENCHMARKS.md records.
 * `--scenario primary-replica` (the default) stops, locks and restarts two
 * plain servers; `--scenario galera` kills and restarts the nodes of a real
 * three-node Galera cluster (bench/galera-run.ts; needs root and galera-4);
 * `--scenario network` breaks a real link to the first host (network
 * namespace, veth, nftables, netem where the kernel has it:
 * bench/network-fault-run.ts; needs root).
 * Exits 1 when any invariant broke (an OK for a wrong password, a NO for a
 * right one, no recovery, a dead daemon, leaked connections).
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { faultReportProblems, formatFaultReport, runFaultScenario, type FaultRunOptions } from './fault-run.js';
import { runGaleraScenario } from './galera-run.js';
import { runNetworkFaultScenario } from './network-fault-run.js';

const { values: args } = parseArgs({
  options: {
    phase: { type: 'string', default: '5' },
    users: { type: 'string', default: '2000' },
    clients: { type: 'string', default: '16' },
    wrong: { type: 'string', default: '0.2' },
    'daemon-log': { type: 'string' },
    scenario: { type: 'string', default: 'primary-replica' },
  },
});

const SCENARIOS = {
  'primary-replica': { run: async (o: FaultRunOptions) => [{ title: '', report: await runFaultScenario(o) }], describe: 'a primary and a replica' },
  galera: { run: async (o: FaultRunOptions) => [{ title: '', report: await runGaleraScenario(o) }], describe: 'a three-node Galera cluster' },
  network: {
    run: async (o: FaultRunOptions) => {
      const { links, latency, latencyBy } = await runNetworkFaultScenario(o);
      return [
        { title: 'a link that drops every packet, then partitions mid-query', report: links },
        { title: `a slow, lossy link (latency made by ${latencyBy})`, report: latency },
      ];
    },
    describe: 'the first host behind a veth link in a network namespace, the second on loopback',
  },
} as const;
const scenario = SCENARIOS[args.scenario as keyof typeof SCENARIOS];
if (!scenario) throw new Error(`--scenario must be one of ${Object.keys(SCENARIOS).join(', ')}`);

const options = { users: Number(args.users), clients: Number(args.clients), phaseMs: Number(args.phase) * 1000, wrongShare: Number(args.wrong) };
console.log(
  `saslauthd-mysql fault run: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, node ${process.version}, ${options.users} md5crypt users, ${options.clients} clients, ${options.wrongShare * 100}% wrong passwords, ${args.phase} s per phase; -a mysql with ${scenario.describe} (connect/query timeout 1000 ms, retry_after 1000 ms)`,
);
const reports = await scenario.run({ ...options, log: (line) => console.log(line), ...(args['daemon-log'] ? { daemonLogFile: args['daemon-log'] } : {}) });
const problems: string[] = [];
for (const { title, report } of reports) {
  console.log(`\n${title ? `${title}\n\n` : ''}${formatFaultReport(report)}`);
  problems.push(...faultReportProblems(report).map((problem) => (title ? `${title}: ${problem}` : problem)));
}
if (problems.length > 0) {
  console.log(`\nFAILED:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exitCode = 1;
} else {
  console.log('\nall invariants held');
}
