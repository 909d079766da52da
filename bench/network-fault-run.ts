/**
 * Network faults loopback cannot make (test/helpers/netns.ts): the daemon's
 * first database host runs in a network namespace behind a veth link, the
 * second on loopback. Under the fault bench's load:
 *   links    the link drops every packet (connects and queries hang: the
 *            deadlines fire, nothing is refused), heals; then a partition
 *            while lookups are running on that host (the table is locked, so
 *            they are mid-query when the link goes), heals
 *   latency  the link gets 200 ms more round trip and loses 5% of its
 *            packets at random, then heals
 * Counted as the fault bench counts, and: every answer within
 * --answer-timeout, the time from each fault to the first OK (failover to
 * the healthy host), connections held afterwards. Latency comes from tc netem
 * where the kernel has it, else from a relay that holds each chunk 100 ms
 * each way (the loss stays nftables' on the real link); the report says which.
 */
import { LinkedNamespace } from '../test/helpers/netns.js';
import { ThrowawayServer } from '../test/helpers/throwaway-mariadb.js';
import { DelayRelay } from './delay-relay.js';
import { daemonConnections, lockMailboxes, runUnderLoad, type FaultReport, type FaultRunOptions } from './fault-run.js';
import { makeBenchMailboxes, seedMailboxes } from './mailbox-seed.js';

export interface NetworkFaultReport {
  readonly links: FaultReport;
  readonly latency: FaultReport;
  /** How the latency was made: tc netem, or the relay where the kernel has no sch_netem. */
  readonly latencyBy: 'tc netem' | 'relay';
}

/** The added round trip and the share of packets lost in the latency run. */
export const ADDED_ROUND_TRIP_MS = 200;
export const LOSS_PERCENT = 5;
/** In these runs: every answer must come within this. */
export const NETWORK_ANSWER_TIMEOUT_MS = 3_000;

export async function runNetworkFaultScenario(options: FaultRunOptions): Promise<NetworkFaultReport> {
  LinkedNamespace.sweepStale();
  const link = LinkedNamespace.create();
  let flaky: ThrowawayServer | undefined;
  let healthy: ThrowawayServer | undefined;
  let relay: DelayRelay | undefined;
  let unlock: (() => Promise<void>) | undefined;
  try {
    [flaky, healthy] = await Promise.all([ThrowawayServer.create([], { prefix: link.prefix, host: link.innerAddress }), ThrowawayServer.create()]);
    const mailboxes = makeBenchMailboxes(options.users);
    await Promise.all([seedMailboxes(flaky, mailboxes), seedMailboxes(healthy, mailboxes)]);
    const servers = { flaky, healthy };
    const connections = async () => ({ 'behind the link': await daemonConnections(servers.flaky), loopback: await daemonConnections(servers.healthy) });
    const run = { ...options, answerTimeoutMs: NETWORK_ANSWER_TIMEOUT_MS };

    const links = await runUnderLoad(run, mailboxes.users, {
      hosts: `${link.innerAddress}:${flaky.port},127.0.0.1:${healthy.port}`,
      connections,
      phases: [
        { name: 'steady (link healthy)', kind: 'steady', enter: async () => undefined },
        { name: 'link drops every packet: fail over', kind: 'fault', enter: async () => link.dropAll() },
        { name: 'link healed', kind: 'recovery', enter: async () => link.heal() },
        {
          name: 'partition mid-query',
          kind: 'fault',
          enter: async () => {
            unlock = await lockMailboxes(servers.flaky);
            // Lookups pile up on the locked table: the link goes while they are running.
            await new Promise((resolve) => setTimeout(resolve, 300));
            link.dropAll();
            await unlock();
            unlock = undefined;
          },
        },
        { name: 'partition healed', kind: 'recovery', enter: async () => link.heal() },
        { name: 'steady again', kind: 'steady', enter: async () => undefined },
      ],
    });

    // Latency: netem on the link where the kernel has it, else the relay in front of the link.
    const netem = link.delay(0);
    link.heal();
    if (!netem) {
      relay = await DelayRelay.start({ host: link.innerAddress, port: flaky.port });
    }
    const latencyRelay = relay;
    const latency = await runUnderLoad(run, mailboxes.users, {
      hosts: `${latencyRelay ? `127.0.0.1:${latencyRelay.port}` : `${link.innerAddress}:${flaky.port}`},127.0.0.1:${healthy.port}`,
      connections,
      phases: [
        { name: 'steady (link healthy)', kind: 'steady', enter: async () => undefined },
        {
          name: `${ADDED_ROUND_TRIP_MS} ms more round trip, ${LOSS_PERCENT}% of packets lost`,
          kind: 'fault',
          enter: async () => {
            if (latencyRelay) latencyRelay.delayMs = ADDED_ROUND_TRIP_MS / 2;
            else link.delay(ADDED_ROUND_TRIP_MS);
            link.dropShare(LOSS_PERCENT);
          },
        },
        {
          name: 'link healthy again',
          kind: 'recovery',
          enter: async () => {
            if (latencyRelay) latencyRelay.delayMs = 0;
            link.heal();
          },
        },
      ],
    });
    return { links, latency, latencyBy: netem ? 'tc netem' : 'relay' };
  } finally {
    link.heal();
    await unlock?.().catch(() => undefined);
    await relay?.close();
    await Promise.all([flaky?.destroy(), healthy?.destroy()]);
    link.destroy();
  }
}
