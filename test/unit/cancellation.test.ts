import { describe, expect, it } from 'vitest';
import { LazyCancellation } from '../../src/common/cancellation.js';

describe('LazyCancellation', () => {
  it('tells a listener that asked before the cancellation', () => {
    const cancellation = new LazyCancellation();
    const { signal } = cancellation;
    let told = 0;
    signal.addEventListener('abort', () => (told += 1));
    expect(signal.aborted).toBe(false);
    cancellation.abort();
    cancellation.abort();
    expect(signal.aborted).toBe(true);
    expect(told).toBe(1);
  });

  it('hands out an already aborted signal when asked only after the cancellation', () => {
    const cancellation = new LazyCancellation();
    cancellation.abort();
    expect(cancellation.aborted).toBe(true);
    expect(cancellation.signal.aborted).toBe(true);
  });

  it('hands out the same signal every time', () => {
    const cancellation = new LazyCancellation();
    expect(cancellation.signal).toBe(cancellation.signal);
    expect(cancellation.aborted).toBe(false);
  });
});
