/**
 * npm run bench:throttle-store: what sharing the throttle through Redis costs
 * a login. The same build on the same passwd-file (md5crypt users, all
 * logins right, the verified cache warm: the cheapest login there is, so the
 * store's share is as large as it gets), with the throttle on in both, with
 * and without --throttle-store pointed at a throwaway redis-server on
 * loopback. Rounds alternate the two; the ratio is taken within each round.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ThrowawayRedis } from '../test/helpers/throwaway-redis.js';
import { runLoad, type BenchUser, type LoadResult } from './load-generator.js';
import { formatRatio, pairedRatios } from './paired-ratios.js';
import { waitForSocket } from './wait-for-socket.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    clients: { type: 'string', default: '16' },
    users: { type: 'string', default: '200' },
  },
});
const DURATION_MS = Number(args.duration) * 1000;

/** "secret" as md5crypt (libxcrypt): every user's password here. */
const SECRET_MD5CRYPT = '$1$8salt.8$Qn8gJEMYSrbUElnVsJXCQ1';

const work = mkdtempSync(path.join(os.tmpdir(), 'sm-store-bench-'));
const redis = await ThrowawayRedis.launch();
try {
  const users: BenchUser[] = Array.from({ length: Number(args.users) }, (_, i) => ({ login: `user${i}`, password: 'secret' }));
  const passwd = path.join(work, 'passwd');
  writeFileSync(passwd, users.map((u) => `${u.login}:${SECRET_MD5CRYPT}`).join('\n') + '\n');
  const key = path.join(work, 'throttle.key');
  writeFileSync(key, 'a benchmark secret, long enough\n', { mode: 0o600 });
  console.log(`saslauthd-mysql throttle-store cost: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, node ${process.version}; -a passwd-file, ${users.length} md5crypt users, all logins right, ${args.clients} clients, ${args.duration} s per run, ${args.rounds} rounds; Redis ${redis.url} (redis-server on loopback)`);

  const contenders: Array<[string, string[]]> = [
    ['throttle on this host only', []],
    ['throttle shared through Redis', ['--throttle-store', redis.url, '--throttle-store-key-file', key]],
  ];
  const results: Record<string, LoadResult[]> = {};
  console.log(`  ${''.padEnd(34)}${'auths/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'wrong'.padStart(8)}${'no reply'.padStart(10)}`);
  for (let round = 1; round <= Number(args.rounds); round += 1) {
    for (const [name, extra] of contenders) {
      const runDir = mkdtempSync(path.join(work, 'run-'));
      const socketPath = path.join(runDir, 'mux');
      const child: ChildProcess = spawn(process.execPath, [CLI, '-a', 'passwd-file', '-O', passwd, '-m', runDir, '--throttle-after', '5', ...extra], { stdio: 'ignore' });
      try {
        await waitForSocket(socketPath, child);
        const load = { socketPath, clients: Number(args.clients), users, realm: '', service: 'smtp', wrongShare: 0 };
        await runLoad({ ...load, durationMs: 1000 });
        const result = await runLoad({ ...load, durationMs: DURATION_MS });
        (results[name] ??= []).push(result);
        console.log(`  ${`${name} #${round}`.padEnd(34)}${result.perSecond.toFixed(0).padStart(9)}${result.p50Ms.toFixed(2).padStart(9)}${result.p99Ms.toFixed(2).padStart(9)}${String(result.wrongAnswers).padStart(8)}${String(result.noReply).padStart(10)}`);
      } finally {
        await new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        });
      }
    }
  }
  const ratio = pairedRatios(results[contenders[1]![0]]!, results[contenders[0]![0]]!);
  console.log(`\n  shared / this host only: throughput ${formatRatio(ratio.throughput)}, p99 ${formatRatio(ratio.p99)}`);
} finally {
  await redis.destroy();
  rmSync(work, { recursive: true, force: true });
}
