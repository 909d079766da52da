import { describe, expect, it } from 'vitest';
import { describeTarget, formatRatio, median, pairedRatios } from '../../bench/paired-ratios.js';

describe('median', () => {
  it('takes the middle value, or the mean of the two middle ones, whatever the order', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });

  it('refuses no values instead of answering NaN', () => {
    expect(() => median([])).toThrow(RangeError);
  });
});

describe('pairedRatios', () => {
  it('divides within each round, not the medians of each side', () => {
    // Drift: round 2 is slower for both daemons; the ratio within each round stays 5.
    const ours = [{ perSecond: 5000, p99Ms: 4 }, { perSecond: 4000, p99Ms: 5 }, { perSecond: 4500, p99Ms: 6 }];
    const theirs = [{ perSecond: 1000, p99Ms: 20 }, { perSecond: 800, p99Ms: 25 }, { perSecond: 900, p99Ms: 20 }];
    const ratios = pairedRatios(ours, theirs);
    expect(ratios.throughput).toEqual([5, 5, 5]);
    expect(ratios.p99).toEqual([0.2, 0.2, 0.3]);
    expect(ratios.medianThroughput).toBe(5);
    expect(ratios.medianP99).toBe(0.2);
  });

  it('refuses rounds that do not pair up', () => {
    expect(() => pairedRatios([{ perSecond: 1, p99Ms: 1 }], [])).toThrow(/same number of rounds/);
    expect(() => pairedRatios([], [])).toThrow(/same number of rounds/);
  });
});

describe('describeTarget', () => {
  it('shows three places, so a value just past the limit is not printed as on it', () => {
    expect(describeTarget({ what: 'p99 ratio', value: 0.2005, bound: 'at-most', limit: 0.2 })).toBe('p99 ratio 0.201 (target <= 0.2): MISSED');
    expect(describeTarget({ what: 'p99 ratio', value: 0.2, bound: 'at-most', limit: 0.2 })).toBe('p99 ratio 0.200 (target <= 0.2): met');
  });

  it('checks at-least and strictly-below bounds', () => {
    expect(describeTarget({ what: 'throughput', value: 3, bound: 'at-least', limit: 3 })).toMatch(/: met$/);
    expect(describeTarget({ what: 'throughput', value: 2.99, bound: 'at-least', limit: 3 })).toMatch(/: MISSED$/);
    // "Faster than" is strictly above: a tie is not faster.
    expect(describeTarget({ what: '-c / default', value: 1, bound: 'above', limit: 1 })).toBe('-c / default 1.000 (target > 1): MISSED');
    expect(describeTarget({ what: '-c / default', value: 1.001, bound: 'above', limit: 1 })).toMatch(/: met$/);
    expect(describeTarget({ what: 'peak MB', value: 150, bound: 'below', limit: 150 })).toMatch(/: MISSED$/);
    expect(describeTarget({ what: 'peak MB', value: 149.9, bound: 'below', limit: 150 })).toMatch(/: met$/);
  });
});

describe('formatRatio', () => {
  it('gives the median and the range of several rounds, or the one value', () => {
    expect(formatRatio([6.08, 5.95, 6.21])).toBe('x6.08 (5.95-6.21)');
    expect(formatRatio([3.1])).toBe('x3.10');
  });
});
