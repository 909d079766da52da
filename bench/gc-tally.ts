/**
 * What a daemon's garbage collector did during a run, read from its
 * --trace-gc-nvp lines: bytes allocated, bytes promoted to the old
 * generation, and how many young and full collections. Per login, these
 * move by far less from run to run than logins a second on a shared VM, so
 * an A/B of two builds can tell a change in allocation that the throughput
 * hides (docs/BENCHMARKS.md, "hidden classes made per login").
 *
 * A line is counted when it is read: the figures between two snapshots are
 * exact to one collection at each end.
 */
import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';

/** The installed command's V8 flags (its #! line); every daemon and floor in a benchmark runs with them. */
export const INSTALLED_V8_FLAGS = ['--v8-pool-size=1', '--max-semi-space-size=1', '--heap-growing-percent=50'] as const;

/** With these the daemon prints one line per collection on its standard output. */
export const GC_TRACE_FLAGS = ['--trace-gc-nvp'] as const;

export interface GcCounts {
  readonly allocatedBytes: number;
  readonly promotedBytes: number;
  readonly scavenges: number;
  readonly fullCollections: number;
}

const NONE: GcCounts = { allocatedBytes: 0, promotedBytes: 0, scavenges: 0, fullCollections: 0 };

/** One --trace-gc-nvp line's contribution; undefined for any other line (the daemon's own log lines share the stream). */
export function countsOfLine(line: string): GcCounts | undefined {
  const kind = / gc=(\w+) /.exec(line)?.[1];
  if (kind === undefined) return undefined;
  const number = (field: string): number => Number(new RegExp(` ${field}=(\\d+)`).exec(line)?.[1] ?? 0);
  return { allocatedBytes: number('allocated'), promotedBytes: number('promoted'), scavenges: kind === 's' ? 1 : 0, fullCollections: kind === 'mc' ? 1 : 0 };
}

export function addCounts(a: GcCounts, b: GcCounts): GcCounts {
  return { allocatedBytes: a.allocatedBytes + b.allocatedBytes, promotedBytes: a.promotedBytes + b.promotedBytes, scavenges: a.scavenges + b.scavenges, fullCollections: a.fullCollections + b.fullCollections };
}

export function subtractCounts(a: GcCounts, b: GcCounts): GcCounts {
  return { allocatedBytes: a.allocatedBytes - b.allocatedBytes, promotedBytes: a.promotedBytes - b.promotedBytes, scavenges: a.scavenges - b.scavenges, fullCollections: a.fullCollections - b.fullCollections };
}

/** Keeps the running sums of a process's --trace-gc-nvp output (it reads the stream to its end). */
export class GcTally {
  #counts: GcCounts = NONE;

  constructor(output: Readable) {
    createInterface({ input: output, crlfDelay: Infinity }).on('line', (line) => {
      const counts = countsOfLine(line);
      if (counts) this.#counts = addCounts(this.#counts, counts);
    });
  }

  get counts(): GcCounts {
    return this.#counts;
  }
}
