import { describe, expect, it } from 'vitest';
import { growingLru } from '../../src/common/growing-lru.js';

describe('growingLru', () => {
  it('holds at most its bound, pushing out the least recently used entry', () => {
    const evicted: string[] = [];
    const table = growingLru<string, number>(3, { dispose: (_value, key, reason) => reason === 'evict' && evicted.push(key) });
    for (const key of ['a', 'b', 'c']) table.set(key, 1);
    table.get('a');
    table.set('d', 1);
    table.set('e', 1);
    expect([[...table.keys()].sort(), evicted, table.size]).toEqual([['a', 'd', 'e'], ['b', 'c'], 3]);
  });

  it('keeps its time to live', () => {
    let now = 1_000;
    const table = growingLru<string, true>(10, { ttl: 50, ttlResolution: 0, perf: { now: () => now } });
    table.set('a', true);
    now += 49;
    expect(table.has('a')).toBe(true);
    now += 2;
    expect(table.has('a')).toBe(false);
  });

  it('allocates storage as entries arrive, not for its bound', () => {
    // A table bounded at a million entries: preallocated, each would weigh tens of megabytes.
    const before = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    const tables = Array.from({ length: 20 }, () => growingLru<string, number>(1_000_000));
    tables.forEach((table, i) => table.set(String(i), i));
    const grownMb = (process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers - before) / 1_048_576;
    expect(grownMb).toBeLessThan(20);
  });

  it('refuses a bound under one entry', () => {
    expect(() => growingLru(0)).toThrow(/at least one entry/);
  });
});
