/**
 * Several mail hosts, simulated on one machine: a three-node Galera cluster,
 * one Redis, and three daemons (real processes, one per "mail host"), each
 * listing the cluster's nodes starting with its own, all sharing the throttle
 * through Redis under one key file. While the three serve everyday logins, a
 * guesser spreads its guesses for one user over all three; it is compared
 * with the same guesser against one daemon, and against three daemons that
 * count alone (no store): the measure must be able to fail.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GaleraCluster } from '../test/helpers/galera.js';
import { ThrowawayRedis } from '../test/helpers/throwaway-redis.js';
import { runLoad, type LoadResult } from './load-generator.js';
import { makeBenchMailboxes, seedMailboxes } from './mailbox-seed.js';
import { startMysqlDaemon, type MysqlDaemonProcess } from './mysql-daemon-process.js';
import { runGuesser, type GuesserResult } from './spread-guesser.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const POOL_SIZE = 4;
/** Small numbers so the bound shows in seconds: three free failures, then delays up to 600 ms. */
export const MULTI_HOST_THROTTLE = ['--throttle-after', '3', '--throttle-max-delay', '600', '--answer-timeout', '5000'] as const;

export interface MultiHostOptions {
  readonly users: number;
  /** Everyday clients per host, logging in without pause while the guesser runs. */
  readonly clientsPerHost: number;
  /** How long each guesser runs. */
  readonly guessMs: number;
  /** Guesses in flight at once. */
  readonly guessers: number;
  readonly cli?: string;
  readonly log?: (line: string) => void;
}

export interface MultiHostReport {
  readonly hosts: number;
  /** The guesser against one daemon. */
  readonly single: GuesserResult;
  /** Spread over the three sharing Redis, while they also serve everyday logins. */
  readonly spreadShared: GuesserResult;
  /** Spread over three daemons counting alone. */
  readonly spreadAlone: GuesserResult;
  /** The everyday logins during the shared run, summed over the hosts. */
  readonly everyday: Pick<LoadResult, 'requests' | 'perSecond' | 'wrongAnswers' | 'noReply'>;
  /** Keys in Redis at the end, and whether each expires. */
  readonly redisKeys: number;
  readonly redisKeysWithoutExpiry: number;
  readonly daemonsAlive: boolean;
}

export async function runMultiHost(options: MultiHostOptions): Promise<MultiHostReport> {
  const log = options.log ?? (() => undefined);
  const cli = options.cli ?? CLI;
  const work = mkdtempSync(path.join(os.tmpdir(), 'sm-multi-'));
  const daemons: MysqlDaemonProcess[] = [];
  let cluster: GaleraCluster | undefined;
  let redis: ThrowawayRedis | undefined;
  try {
    log('starting a three-node Galera cluster and Redis');
    [cluster, redis] = await Promise.all([GaleraCluster.create(), ThrowawayRedis.launch()]);
    const nodes = cluster.nodes.map((node) => `127.0.0.1:${node.port}`);
    const mailboxes = makeBenchMailboxes(options.users);
    await seedMailboxes(cluster.nodes[0]!, mailboxes);
    const keyFile = path.join(work, 'throttle.key');
    writeFileSync(keyFile, 'the secret every mail host of the simulation shares\n', { mode: 0o600 });

    // Each host tries its own node first, then the others: the cluster's load is spread as in a real deployment.
    const start = (index: number, shared: boolean) =>
      startMysqlDaemon({
        cli,
        hosts: [...nodes.slice(index), ...nodes.slice(0, index)].join(','),
        poolSize: POOL_SIZE,
        args: [...MULTI_HOST_THROTTLE, ...(shared ? ['--throttle-store', redis!.url, '--throttle-store-key-file', keyFile] : [])],
      });
    for (let i = 0; i < 3; i += 1) daemons.push(await start(i, true));
    // Until every daemon's Redis connection is up, the first logins would count locally.
    const client = redis.connect();
    try {
      for (let tries = 0; ; tries += 1) {
        const clients = String(await client.call('CLIENT', 'LIST'));
        if (clients.split('\n').filter((line) => line.includes('name=saslauthd-mysql')).length >= daemons.length) break;
        if (tries > 100) throw new Error('the daemons did not connect to Redis within 10 s');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }

      const [victimAlone, victimShared, victimUnshared] = mailboxes.users;
      const guess = (sockets: readonly string[], login: string) => runGuesser({ sockets, login, realm: 'example.org', concurrency: options.guessers, durationMs: options.guessMs });
      const nameOf = (login: string) => login.slice(0, login.indexOf('@'));

      log(`guesser against one host for ${options.guessMs} ms`);
      const single = await guess([daemons[0]!.socketPath], nameOf(victimAlone!.login));

      log(`guesser spread over three hosts sharing Redis, while they serve everyday logins, for ${options.guessMs} ms`);
      const everydayUsers = mailboxes.users.slice(3);
      const [spreadShared, ...everyday] = await Promise.all([
        guess(daemons.map((d) => d.socketPath), nameOf(victimShared!.login)),
        ...daemons.map((d) => runLoad({ socketPath: d.socketPath, clients: options.clientsPerHost, durationMs: options.guessMs, users: everydayUsers, realm: 'example.org', service: 'smtp', wrongShare: 0.05 })),
      ]);
      const keys = await client.keys('*');
      const ttls = await Promise.all(keys.map((key) => client.pttl(key)));
      const daemonsAlive = daemons.every((d) => d.alive);

      log(`guesser spread over three hosts counting alone, for ${options.guessMs} ms`);
      const alone: MysqlDaemonProcess[] = [];
      try {
        for (let i = 0; i < 3; i += 1) alone.push(await start(i, false));
        const spreadAlone = await guess(alone.map((d) => d.socketPath), nameOf(victimUnshared!.login));
        return {
          hosts: daemons.length,
          single,
          spreadShared: spreadShared,
          spreadAlone,
          everyday: (everyday).reduce((sum, r) => ({ requests: sum.requests + r.requests, perSecond: sum.perSecond + r.perSecond, wrongAnswers: sum.wrongAnswers + r.wrongAnswers, noReply: sum.noReply + r.noReply }), { requests: 0, perSecond: 0, wrongAnswers: 0, noReply: 0 }),
          redisKeys: keys.length,
          // -1: no expiry. -2: the key went between listing and asking (a success deleted it, or it expired), which is no fault.
          redisKeysWithoutExpiry: ttls.filter((ttl) => ttl === -1).length,
          daemonsAlive,
        };
      } finally {
        await Promise.all(alone.map((d) => d.stop()));
      }
    } finally {
      client.disconnect();
    }
  } finally {
    await Promise.all(daemons.map((d) => d.stop()));
    await Promise.all([cluster?.destroy(), redis?.destroy()]);
    rmSync(work, { recursive: true, force: true });
  }
}

/** The figures as docs/BENCHMARKS.md records them. */
export function formatMultiHostReport(report: MultiHostReport, guessMs: number): string {
  const per = (r: GuesserResult) => `${r.evaluated} (${r.perSocket.join(' + ')})`;
  return [
    `| guesser, ${guessMs / 1000} s, one user | guesses evaluated | OK for a wrong guess |`,
    '|---|---:|---:|',
    `| against one host | ${report.single.evaluated} | ${report.single.ok} |`,
    `| spread over ${report.hosts} hosts sharing Redis | ${per(report.spreadShared)} | ${report.spreadShared.ok} |`,
    `| spread over ${report.hosts} hosts counting alone | ${per(report.spreadAlone)} | ${report.spreadAlone.ok} |`,
    '',
    `everyday logins on the ${report.hosts} hosts meanwhile: ${report.everyday.requests} (${report.everyday.perSecond.toFixed(0)}/s), wrong answers ${report.everyday.wrongAnswers}, no reply ${report.everyday.noReply}`,
    `Redis keys at the end: ${report.redisKeys}, without expiry: ${report.redisKeysWithoutExpiry}; daemons still running: ${report.daemonsAlive ? 'yes' : 'NO'}`,
  ].join('\n');
}

/** What must hold; empty when all did. */
export function multiHostProblems(report: MultiHostReport): string[] {
  const problems: string[] = [];
  const { single, spreadShared, spreadAlone } = report;
  if (single.ok + spreadShared.ok + spreadAlone.ok > 0) problems.push('a wrong guess was answered OK');
  if (report.everyday.wrongAnswers > 0) problems.push(`${report.everyday.wrongAnswers} wrong answers to everyday logins`);
  // The delays' jitter allows a little either way.
  if (spreadShared.evaluated > Math.ceil(single.evaluated * 1.3) + 1) problems.push(`spread over the hosts sharing Redis, ${spreadShared.evaluated} guesses were evaluated against ${single.evaluated} on one host`);
  if (spreadAlone.evaluated <= single.evaluated * 2) problems.push(`hosts counting alone gave only ${spreadAlone.evaluated} guesses against ${single.evaluated} on one: the measure cannot tell`);
  if (spreadShared.perSocket.some((n) => n === 0)) problems.push('a host served none of the spread guesses');
  if (report.redisKeysWithoutExpiry > 0) problems.push(`${report.redisKeysWithoutExpiry} Redis keys without expiry`);
  if (!report.daemonsAlive) problems.push('a daemon died');
  return problems;
}
