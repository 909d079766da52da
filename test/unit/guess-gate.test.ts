import { describe, expect, it, vi } from 'vitest';
import { GuessGate, type Admission, type GatePass } from '../../src/auth/guess-gate.js';

interface Key {
  readonly id: string;
}
const A: Key = { id: 'a' };
const B: Key = { id: 'b' };

function gate(capacity = 1, maxWaitingPerKey = 2): GuessGate<Key> {
  return new GuessGate<Key>({ capacity: () => capacity, maxWaitingPerKey });
}

function passOf(admission: Admission | Promise<Admission>): GatePass {
  if (admission instanceof Promise || !admission.admitted) throw new Error('expected to be admitted at once');
  return admission.pass;
}

const ROOM = (): boolean => true;

describe('GuessGate', () => {
  it('admits up to capacity at once without a promise, then queues in arrival order', async () => {
    const g = gate(1, 5);
    const first = passOf(g.admit([A], new AbortController(), ROOM));
    const order: number[] = [];
    const waiting = [1, 2, 3].map((n) => Promise.resolve(g.admit([A], new AbortController(), ROOM)).then((admission) => {
      order.push(n);
      return admission;
    }));
    first.release();
    for (const next of waiting) {
      const admission = await next;
      expect(admission.admitted).toBe(true);
      if (admission.admitted) admission.pass.release();
    }
    expect(order).toEqual([1, 2, 3]);
    expect(g.activeKeys).toBe(0);
  });

  it('refuses past the queue bound at once, and when the caller has no room to wait', async () => {
    const g = gate(1, 1);
    const first = passOf(g.admit([A], new AbortController(), ROOM));
    const queued = g.admit([A], new AbortController(), ROOM);
    expect(await g.admit([A], new AbortController(), ROOM)).toEqual({ admitted: false, why: 'queue-full' });
    expect(await gate(1, 5).admit([B], new AbortController(), ROOM)).toMatchObject({ admitted: true });
    first.release();
    const second = await queued;
    expect(second.admitted).toBe(true);
    expect(await g.admit([A], new AbortController(), () => false)).toEqual({ admitted: false, why: 'no-room' });
  });

  it('drops a waiter whose client goes away, and gives back the keys it held', async () => {
    const g = gate(1, 5);
    const holdsB = passOf(g.admit([B], new AbortController(), ROOM));
    const client = new AbortController();
    // Takes A at once, then waits for B.
    const pending = g.admit([A, B], client, ROOM);
    expect(pending).toBeInstanceOf(Promise);
    expect(g.admit([A], new AbortController(), () => false)).toBeInstanceOf(Promise);
    client.abort();
    expect(await pending).toEqual({ admitted: false, why: 'cancelled' });
    // A is free again: taken at once.
    passOf(g.admit([A], new AbortController(), ROOM)).release();
    holdsB.release();
    expect(g.activeKeys).toBe(0);
  });

  it('keeps a key closed for the hold its outcome earned, whether or not anyone waits', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const g = gate(1, 5);
      passOf(g.admit([A], new AbortController(), ROOM)).release([80]);
      expect(g.activeKeys).toBe(1);
      let admitted = false;
      const next = Promise.resolve(g.admit([A], new AbortController(), ROOM)).then((admission) => {
        admitted = admission.admitted;
        return admission;
      });
      await vi.advanceTimersByTimeAsync(79);
      expect(admitted).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(admitted).toBe(true);
      const admission = await next;
      if (admission.admitted) admission.pass.release();
      expect(g.activeKeys).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a pass is released once, however often release is called', () => {
    const g = gate(2, 5);
    const one = passOf(g.admit([A], new AbortController(), ROOM));
    const two = passOf(g.admit([A], new AbortController(), ROOM));
    one.release();
    one.release();
    // One of two places is free: a third goes at once, a fourth would wait.
    const three = passOf(g.admit([A], new AbortController(), ROOM));
    expect(g.admit([A], new AbortController(), () => false)).toBeInstanceOf(Promise);
    two.release();
    three.release();
    expect(g.activeKeys).toBe(0);
  });
});
