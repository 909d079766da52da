/**
 * npm run bench:multi-host: three daemons, one Redis, a three-node Galera
 * cluster (bench/multi-host-run.ts), printed as docs/BENCHMARKS.md records
 * it. Needs root (the cluster's nodes run as user mysql), galera-4, rsync and
 * redis-server. Exits 1 when an invariant broke.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { formatMultiHostReport, MULTI_HOST_THROTTLE, multiHostProblems, runMultiHost } from './multi-host-run.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    users: { type: 'string', default: '2000' },
    clients: { type: 'string', default: '4' },
    guessers: { type: 'string', default: '6' },
  },
});

const guessMs = Number(args.seconds) * 1000;
console.log(
  `saslauthd-mysql multi-host run: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, node ${process.version}; 3 daemons (${MULTI_HOST_THROTTLE.join(' ')}), one Redis, a 3-node Galera cluster; ${args.users} md5crypt users, ${args.clients} everyday clients per host, ${args.guessers} guesses in flight`,
);
const report = await runMultiHost({ users: Number(args.users), clientsPerHost: Number(args.clients), guessMs, guessers: Number(args.guessers), log: (line) => console.log(`  ${line}`) });
console.log(`\n${formatMultiHostReport(report, guessMs)}`);
const problems = multiHostProblems(report);
if (problems.length > 0) {
  console.log(`\nFAILED:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exitCode = 1;
} else {
  console.log('\nall invariants held');
}
