/**
 * The benchmarks' reading of a daemon's --trace-gc-nvp lines (bench/gc-tally.ts),
 * which bench:ab prints per login: it must sum what a real node prints, young
 * and full collections alike, and skip the daemon's own log lines on the same
 * stream.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { countsOfLine, GC_TRACE_FLAGS, GcTally } from '../../bench/gc-tally.js';

describe('GcTally', () => {
  it('reads a scavenge line, a mark-compact line, and nothing from a log line', () => {
    const scavenge = '[1:0x1]     4259 ms: pause=2.0 mutator=30.0 gc=s reduce_memory=0 allocated=6199400 promoted=834544 new_space_survived=847664 promotion_rate=98.0%';
    const markCompact = '[1:0x1]     4300 ms: pause=1.7 mutator=10.0 gc=mc reduce_memory=0 total_size_before=28659072 allocated=3361344 promoted=4514120';
    expect(countsOfLine(scavenge)).toEqual({ allocatedBytes: 6199400, promotedBytes: 834544, scavenges: 1, fullCollections: 0 });
    expect(countsOfLine(markCompact)).toEqual({ allocatedBytes: 3361344, promotedBytes: 4514120, scavenges: 0, fullCollections: 1 });
    expect(countsOfLine('{"level":30,"msg":"authentication failed","gc=s":1}')).toBeUndefined();
  });

  it("sums a node's own trace: at least what the child allocated, in young collections", async () => {
    const megabytes = 64;
    // Short-lived arrays of about 1 KB, megabytes of them, each kept for a moment in a small ring (so no
    // optimisation can leave one out): all allocated in the young generation, nearly none promoted.
    const program = `const ring = []; for (let i = 0; i < ${megabytes} * 1024; i += 1) ring[i & 15] = new Array(126).fill(i); console.log('{"done":' + ring.length + '}');`;
    const child = spawn(process.execPath, [...GC_TRACE_FLAGS, '-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
    const tally = new GcTally(child.stdout);
    await once(child, 'close');
    expect(tally.counts.scavenges).toBeGreaterThan(0);
    // Allocation not yet collected at exit is not in any line: most of it is.
    expect(tally.counts.allocatedBytes).toBeGreaterThan((megabytes / 2) * 1024 * 1024);
    expect(tally.counts.promotedBytes).toBeLessThan(tally.counts.allocatedBytes / 10);
  });

  it('skips lines that are not the collector’s', async () => {
    const tally = new GcTally(Readable.from(['{"msg":"listening"}\n', 'pause=1 gc=s allocated=10 promoted=2 \n']));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(tally.counts).toEqual({ allocatedBytes: 10, promotedBytes: 2, scavenges: 1, fullCollections: 0 });
  });
});
