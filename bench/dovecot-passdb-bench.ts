/**
 * npm run bench:dovecot: Dovecot's logins per second with its passdb through
 * the daemon (the Lua passdb of docs/examples/dovecot/, settings from
 * dovecot-config) against Dovecot's own SQL passdb on the same MariaDB
 * table, one private Debian Dovecot 2.3 each, measured the way Dovecot's
 * login processes ask: AUTH PLAIN with service=imap on Dovecot's own
 * auth-client socket, so what differs is the passdb and nothing else.
 * A third Dovecot keeps the SQL passdb and asks the daemon's auth policy
 * (settings from dovecot-config too): what the shared budget costs a Dovecot
 * that keeps its own passdb. Rounds alternate the three and the ratios are
 * taken within each round (drift slower than a round cancels); the median
 * round is reported.
 *
 * Needs root (Dovecot), dovecot-core, dovecot-auth-lua, lua-socket,
 * dovecot-mysql and the unpacked mail programs (.ci/unpack-dovecot-mail).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolveDaemonConfig } from '../src/config/daemon-config.js';
import { dovecotSettings } from '../src/cli/dovecot-config.js';
import { freePort, ThrowawayServer } from '../test/helpers/mysql.js';
import { sqlPassdb, startDovecotMail, type DovecotMail } from '../test/helpers/dovecot.js';
import { DovecotLoadConnection } from './dovecot-load-client.js';
import { makeBenchMailboxes, seedMailboxes } from './mailbox-seed.js';
import { startMysqlDaemon } from './mysql-daemon-process.js';
import { median } from './paired-ratios.js';
import type { BenchUser } from './load-generator.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const LUA = fileURLToPath(new URL('../docs/examples/dovecot/saslauthd-mysql.lua', import.meta.url));

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    users: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '32' },
    connections: { type: 'string', default: '4' },
  },
});
const seconds = Number(args.seconds);
const rounds = Number(args.rounds);
const concurrency = Number(args.concurrency);
const connections = Number(args.connections);

interface RoundResult {
  readonly perSecond: number;
  readonly ok: number;
  readonly failed: number;
  readonly none: number;
  readonly p99Ms: number;
}

/** Logins with the right password for random users, `concurrency` in flight over `connections` connections, for `seconds`. */
async function measure(dovecot: DovecotMail & { readonly authClient: string }, users: readonly BenchUser[]): Promise<RoundResult> {
  const pool = await Promise.all(Array.from({ length: connections }, () => DovecotLoadConnection.open(dovecot.authClient, 5_000)));
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  let none = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      const connection = pool[worker % pool.length]!;
      while (performance.now() < until) {
        const user = users[Math.floor(Math.random() * users.length)]!;
        const sent = performance.now();
        const outcome = await connection.login({ mechanism: 'PLAIN', user: `${user.login}@example.org`, password: user.password }, 10_000);
        latencies.push(performance.now() - sent);
        if (outcome.kind === 'ok') ok += 1;
        else if (outcome.kind === 'fail') failed += 1;
        else none += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  for (const connection of pool) connection.close();
  latencies.sort((a, b) => a - b);
  return { perSecond: (ok + failed + none) / elapsed, ok, failed, none, p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0 };
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`saslauthd-mysql Dovecot passdb run: ${cpu}, ${os.cpus().length} cores, node ${process.version}; ${args.users} md5crypt mailboxes, ${concurrency} logins in flight over ${connections} auth-client connections, ${seconds} s per passdb per round, ${rounds} rounds`);

const work = mkdtempSync(path.join(os.tmpdir(), 'sm-dovecot-bench-'));
const server = await ThrowawayServer.create();
const stops: Array<() => Promise<void>> = [async () => server.destroy()];
try {
  const mailboxes = makeBenchMailboxes(Number(args.users));
  await seedMailboxes(server, mailboxes);
  const secretFile = path.join(work, 'policy.secret');
  writeFileSync(secretFile, randomBytes(24).toString('hex'), { mode: 0o600 });
  const policyPort = await freePort();
  const policyFlags = { dovecotPolicyListen: String(policyPort), dovecotPolicySecretFile: secretFile };
  const daemon = await startMysqlDaemon({ cli: CLI, hosts: `127.0.0.1:${server.port}`, poolSize: 8, args: ['--dovecot-policy-listen', String(policyPort), '--dovecot-policy-secret-file', secretFile] });
  stops.push(() => daemon.stop());
  const runDir = path.dirname(daemon.socketPath);
  // What dovecot-config prints for this daemon (its flags: -a mysql -r -m DIR), with the shipped script.
  const env = { SASLAUTHD_MYSQL_DB_HOSTS: `127.0.0.1:${server.port}`, SASLAUTHD_MYSQL_DB_DATABASE: 'postfix', SASLAUTHD_MYSQL_DB_USER: 'sasl', SASLAUTHD_MYSQL_DB_PASSWORD: 'sasl-pw', SASLAUTHD_MYSQL_DB_TABLE: 'mailbox' };
  const settings = dovecotSettings(resolveDaemonConfig({ mech: 'mysql', realmJoin: true, runDir }, env), LUA);
  const policySettings = dovecotSettings(resolveDaemonConfig({ mech: 'mysql', realmJoin: true, runDir, ...policyFlags }, env), LUA);
  const ports = async () => ({ imap: await freePort(), pop3: await freePort(), sieve: await freePort() });
  const start = async (name: string, options: { settings?: string; passdb?: string[] }) => {
    const dir = path.join(work, name);
    const dovecot = await startDovecotMail(dir, { ports: await ports(), ...options });
    stops.push(() => dovecot.stop());
    return { ...dovecot, authClient: path.join(dir, 'run', 'auth-client') };
  };
  const throughDaemon = await start('lua', { settings });
  const passdb = sqlPassdb(work, server.port, { user: 'sasl', password: 'sasl-pw' });
  const sql = await start('sql', { passdb });
  const sqlWithPolicy = await start('sql-policy', { passdb, settings: policySettings });

  // One warm-up each: Dovecot's auth workers and the daemon's pool start on first use.
  await measure(throughDaemon, mailboxes.users.slice(0, 50));
  await measure(sql, mailboxes.users.slice(0, 50));
  await measure(sqlWithPolicy, mailboxes.users.slice(0, 50));
  const ratios: number[] = [];
  const policyRatios: number[] = [];
  for (let round = 1; round <= rounds; round += 1) {
    const ours = await measure(throughDaemon, mailboxes.users);
    const theirs = await measure(sql, mailboxes.users);
    const policed = await measure(sqlWithPolicy, mailboxes.users);
    ratios.push(ours.perSecond / theirs.perSecond);
    policyRatios.push(policed.perSecond / theirs.perSecond);
    const line = (name: string, r: RoundResult) => `${name} ${r.perSecond.toFixed(0)} logins/s (ok ${r.ok}, fail ${r.failed}, none ${r.none}), p99 ${r.p99Ms.toFixed(1)} ms`;
    console.log(`  round ${round}: ${line('through the daemon', ours)}; ${line("Dovecot's SQL passdb", theirs)}; ${line('SQL passdb with the policy', policed)}`);
    if ([ours, theirs, policed].some((r) => r.failed + r.none > 0)) {
      console.log('  FAILED: a right password was refused or unanswered');
      process.exitCode = 1;
    }
  }
  const summary = (values: number[]) => `median ${median(values).toFixed(2)} (rounds: ${values.map((r) => r.toFixed(2)).join(', ')})`;
  console.log(`\nlogins/s through the daemon / Dovecot's SQL passdb: ${summary(ratios)}`);
  console.log(`logins/s of the SQL passdb with the daemon's policy / without: ${summary(policyRatios)}`);
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
