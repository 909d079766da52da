import { describe, expect, it } from 'vitest';
import { RecentMemo } from '../../src/common/recent-memo.js';

describe('RecentMemo', () => {
  it('makes a value once and answers from memory while it is recent', () => {
    const made: string[] = [];
    const memo = new RecentMemo<string, string>(4, (key) => (made.push(key), key.toUpperCase()));
    expect([memo.get('a'), memo.get('b'), memo.get('a'), memo.get('b')]).toEqual(['A', 'B', 'A', 'B']);
    expect(made).toEqual(['a', 'b']);
  });

  it('keeps what was asked for within the last generation, and at most two generations', () => {
    const made: number[] = [];
    const memo = new RecentMemo<number, number>(3, (key) => (made.push(key), key * 10));
    for (const key of [1, 2, 3]) memo.get(key);
    // The newer generation is full: 4 starts a new one, 1-3 are the older.
    memo.get(4);
    // 1 is carried from the older into the newer without being made again.
    expect(memo.get(1)).toBe(10);
    expect(made).toEqual([1, 2, 3, 4]);
    memo.get(5);
    // The newer (4, 1, 5) filled: 6 drops the older (1-3); 2 was not asked for since, so it is made again.
    memo.get(6);
    memo.get(2);
    expect(made).toEqual([1, 2, 3, 4, 5, 6, 2]);
    // 1 survived the drop (it was carried): no new make.
    memo.get(1);
    expect(made).toEqual([1, 2, 3, 4, 5, 6, 2]);
    expect(memo.size).toBeLessThanOrEqual(6);
  });

  it('stays bounded whatever it is asked for', () => {
    const memo = new RecentMemo<number, number>(100, (key) => key);
    for (let key = 0; key < 10_000; key += 1) memo.get(key);
    expect(memo.size).toBeLessThanOrEqual(200);
  });

  it('remembers undefined as a value, not as a miss', () => {
    let made = 0;
    const memo = new RecentMemo<string, undefined>(2, () => {
      made += 1;
      return undefined;
    });
    memo.get('x');
    memo.get('x');
    expect(made).toBe(1);
  });

  it('refuses a generation of no values', () => {
    expect(() => new RecentMemo(0, (key: string) => key)).toThrow(RangeError);
  });
});
