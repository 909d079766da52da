/**
 * The fault run on a three-node Galera cluster (test/helpers/galera.ts): the
 * daemon lists the three nodes as its hosts and serves the load while one
 * node is killed, then a second (the survivor loses quorum and refuses table
 * reads with error 1047: a down host, so a temporary failure, never a "no"),
 * then the administrator makes the survivor primary again and the nodes
 * rejoin. Counted as the fault
 * bench counts: no OK for a wrong password, no NO for a right one, the time
 * from each recovery to the next OK, and the connections held afterwards.
 */
import { GaleraCluster } from '../test/helpers/galera.js';
import { daemonConnections, runUnderLoad, type FaultReport, type FaultRunOptions } from './fault-run.js';
import { makeBenchMailboxes, seedMailboxes } from './mailbox-seed.js';

export interface GaleraRunOptions extends FaultRunOptions {
  /** Called while the survivor has lost quorum, with its client port: to see what else makes of it (saslauthd-mysql check). */
  readonly whileQuorumLost?: (port: number) => Promise<void>;
}

export async function runGaleraScenario(options: GaleraRunOptions): Promise<FaultReport> {
  const cluster = await GaleraCluster.create();
  try {
    const [first, second, third] = cluster.nodes;
    const mailboxes = makeBenchMailboxes(options.users);
    // Seeded through one node: Galera replicates the schema, the rows and the account.
    await seedMailboxes(first!, mailboxes);
    return await runUnderLoad(options, mailboxes.users, {
      hosts: cluster.nodes.map((node) => `127.0.0.1:${node.port}`).join(','),
      connections: async () => Object.fromEntries(await Promise.all(cluster.nodes.map(async (node) => [`node${node.index}`, node.running ? await daemonConnections(node) : 0] as const))),
      phases: [
        { name: 'steady (three nodes)', kind: 'steady', enter: async () => undefined },
        { name: 'node 1 killed: fail over', kind: 'fault', enter: () => first!.kill() },
        { name: 'node 2 killed: node 3 loses quorum (1047)', kind: 'fault', enter: async () => { await second!.kill(); await third!.waitForNonPrimary(); await options.whileQuorumLost?.(third!.port); } },
        // A lone survivor never declares itself primary (it cannot tell a partition from a crash):
        // the administrator tells it to, and node 2 then rejoins it by state transfer.
        { name: 'node 3 made primary by hand, node 2 rejoins', kind: 'recovery', enter: async () => { await third!.bootstrapPrimary(); await second!.start(); } },
        { name: 'node 1 restarted: three nodes again', kind: 'recovery', enter: () => first!.start() },
        { name: 'steady again', kind: 'steady', enter: async () => void (await third!.synced()) },
      ],
    });
  } finally {
    await cluster.destroy();
  }
}
