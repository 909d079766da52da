/**
 * A network namespace joined to ours by a veth pair, on addresses of its own
 * (10.231.N.0/30): a server started inside it is reached over a real link, and
 * the link can be broken as loopback never breaks. Faults are nftables rules
 * in a table of our own (every packet dropped, or a share of them at random)
 * and, where the kernel has sch_netem, tc netem delay. `destroy` removes the
 * table, the namespace and the pair; names carry our PID, and `sweepStale`
 * removes what a killed run left behind.
 */
import { execFileSync, spawnSync } from 'node:child_process';

let made = 0;

function run(command: string, args: readonly string[]): void {
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function runQuietly(command: string, args: readonly string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

/** What is missing for the network-fault suite, as instructions (it fails on these, never skips). */
export function netnsProblems(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('it must run as root (network namespaces, veth, nftables)');
  if (!runQuietly('ip', ['-V'])) problems.push('ip is missing: apt-get install iproute2');
  if (!runQuietly('nft', ['--version'])) problems.push('nft is missing: apt-get install nftables');
  return problems;
}

export class LinkedNamespace {
  readonly name: string;
  readonly hostInterface: string;
  readonly hostAddress: string;
  readonly innerAddress: string;
  readonly #table: string;
  #netem = false;

  private constructor(id: string, subnet: number) {
    this.name = `sm-net-${id}`;
    this.hostInterface = `smh${id}`.slice(0, 15);
    this.hostAddress = `10.231.${subnet}.1`;
    this.innerAddress = `10.231.${subnet}.2`;
    this.#table = `sm_fault_${id.replace(/\W/g, '_')}`;
  }

  static create(): LinkedNamespace {
    made += 1;
    const id = `${process.pid}x${made}`;
    const namespace = new LinkedNamespace(id, (process.pid + made * 37) % 250);
    const inner = `smn${id}`.slice(0, 15);
    try {
      run('ip', ['netns', 'add', namespace.name]);
      run('ip', ['link', 'add', namespace.hostInterface, 'type', 'veth', 'peer', 'name', inner]);
      run('ip', ['link', 'set', inner, 'netns', namespace.name]);
      run('ip', ['addr', 'add', `${namespace.hostAddress}/30`, 'dev', namespace.hostInterface]);
      run('ip', ['link', 'set', namespace.hostInterface, 'up']);
      run('ip', ['netns', 'exec', namespace.name, 'ip', 'addr', 'add', `${namespace.innerAddress}/30`, 'dev', inner]);
      run('ip', ['netns', 'exec', namespace.name, 'ip', 'link', 'set', inner, 'up']);
      run('ip', ['netns', 'exec', namespace.name, 'ip', 'link', 'set', 'lo', 'up']);
    } catch (error) {
      namespace.destroy();
      throw new Error(`could not make network namespace ${namespace.name}: ${(error as { stderr?: Buffer }).stderr?.toString().trim() ?? (error as Error).message}`);
    }
    return namespace;
  }

  /** Run a command inside the namespace: put this before it. */
  get prefix(): readonly string[] {
    return ['ip', 'netns', 'exec', this.name];
  }

  /** Every packet between us and the namespace dropped, both ways: connects and queries hang, nothing is refused. */
  dropAll(): void {
    this.#rules('');
  }

  /** This share of the packets dropped at random, both ways. */
  dropShare(percent: number): void {
    this.#rules(`numgen random mod 100 < ${percent} `);
  }

  /**
   * Add this much delay to every packet we send into the namespace (tc
   * netem). False when the kernel has no sch_netem (some VM kernels are built
   * without it): the caller must make its latency another way.
   */
  delay(ms: number): boolean {
    this.#netem = runQuietly('tc', ['qdisc', 'replace', 'dev', this.hostInterface, 'root', 'netem', 'delay', `${ms}ms`]);
    return this.#netem;
  }

  /** Every fault gone: the link is healthy again. */
  heal(): void {
    runQuietly('nft', ['delete', 'table', 'inet', this.#table]);
    if (this.#netem) runQuietly('tc', ['qdisc', 'del', 'dev', this.hostInterface, 'root']);
    this.#netem = false;
  }

  destroy(): void {
    this.heal();
    runQuietly('ip', ['netns', 'del', this.name]);
    // The pair goes with the namespace; this is for a namespace that was never made.
    runQuietly('ip', ['link', 'del', this.hostInterface]);
  }

  /** Namespaces, links and tables a killed run of ours left (their PID is gone). */
  static sweepStale(): void {
    const names = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
    for (const match of names.matchAll(/^sm-net-(\d+)x(\d+)/gm)) {
      const pid = Number(match[1]);
      if (pid === process.pid || isAlive(pid)) continue;
      const id = `${match[1]}x${match[2]}`;
      runQuietly('nft', ['delete', 'table', 'inet', `sm_fault_${id}`]);
      runQuietly('ip', ['netns', 'del', `sm-net-${id}`]);
    }
  }

  #rules(match: string): void {
    runQuietly('nft', ['delete', 'table', 'inet', this.#table]);
    const script = [
      `table inet ${this.#table} {`,
      `  chain out { type filter hook output priority 0; policy accept; ip daddr ${this.innerAddress} ${match}drop; }`,
      `  chain in { type filter hook input priority 0; policy accept; ip saddr ${this.innerAddress} ${match}drop; }`,
      '}',
    ].join('\n');
    execFileSync('nft', ['-f', '-'], { input: script, stdio: ['pipe', 'ignore', 'pipe'] });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
