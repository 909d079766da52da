/**
 * npm run soak -- --minutes N: the daemon under mixed load on both listeners
 * for N minutes, with a MariaDB restart, a Redis restart and SIGHUP reloads
 * along the way (bench/soak-run.ts). Prints the figures every interval and
 * the table docs/BENCHMARKS.md records; exits 1 on any wrong answer or on
 * anything that keeps growing.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { runSoak } from './soak-run.js';
import { formatSoakReport, soakProblems } from './soak-judgement.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    'sample-seconds': { type: 'string', default: '60' },
    'warmup-minutes': { type: 'string' },
    users: { type: 'string', default: '2000' },
    'mux-clients': { type: 'string', default: '8' },
    'dovecot-connections': { type: 'string', default: '4' },
    pipelined: { type: 'string', default: '3' },
    'policy-clients': { type: 'string', default: '2' },
    'daemon-log': { type: 'string' },
  },
});

const number = (name: keyof typeof args, min: number): number => {
  const value = Number(args[name]);
  if (!Number.isFinite(value) || value < min) throw new Error(`--${name} must be a number of at least ${min}`);
  return value;
};
const minutes = number('minutes', 1);
const sampleMs = number('sample-seconds', 1) * 1000;
// Two samples, or a tenth of the run, whichever is longer, before figures are judged.
const warmupMs = args['warmup-minutes'] === undefined ? Math.max(2 * sampleMs, (minutes * 60_000) / 10) : number('warmup-minutes', 0) * 60_000;
const options = {
  durationMs: minutes * 60_000,
  sampleMs,
  warmupMs,
  users: number('users', 20),
  muxClients: number('mux-clients', 1),
  dovecotConnections: number('dovecot-connections', 1),
  pipelined: number('pipelined', 1),
  policyClients: number('policy-clients', 0),
  log: (line: string) => console.log(line),
  ...(args['daemon-log'] ? { daemonLogFile: args['daemon-log'] } : {}),
};
console.log(
  `saslauthd-mysql soak: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, node ${process.version}; ${minutes} min, a sample every ${sampleMs / 1000} s, warm-up ${(warmupMs / 1000).toFixed(0)} s; ${options.users} md5crypt users; mux: ${options.muxClients} clients of right passwords, 2 of wrong and unknown users, a guesser; Dovecot: ${options.dovecotConnections} connections with ${options.pipelined} right logins and 1 wrong or unknown in flight each; Dovecot's policy: ${options.policyClients} clients (allow, report; some reports never come, some requests cut); hang-ups; -a mysql (pool 4) with the throttle in Redis`,
);
const report = await runSoak(options);
console.log(`\n${formatSoakReport(report, sampleMs)}`);
const problems = soakProblems(report);
if (problems.length > 0) {
  console.log(`\nFAILED:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exitCode = 1;
} else {
  console.log('\nnothing grew, every answer was right');
}
