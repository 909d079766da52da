import { describe, expect, it, vi } from 'vitest';
import { GuessGate, type Admission, type GatePass } from '../../src/auth/guess-gate.js';

interface Key {
  readonly id: string;
}
const A: Key = { id: 'a' };
const B: Key = { id: 'b' };

function gate(capacity = 1, maxWaitingPerKey = 2): GuessGate<Key> {
  return new GuessGate<Key>({ capacity: () => capacity, maxWaitingPerKey, freshSpacingMs: 1000 });
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

  it('wakes its queue when a hold ends between two readings of the clock (a timer may fire a hair before the end)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      // The gate's clock moves on between readings, as it does on a loaded event loop.
      let t = 1000;
      let tick = 0;
      const clock = { now: (): number => (t += tick) - tick };
      const g = new GuessGate<Key>({ capacity: () => 1, maxWaitingPerKey: 5, freshSpacingMs: 1000, clock });
      const first = passOf(g.admit([A], new AbortController(), ROOM));
      let admitted = false;
      const next = Promise.resolve(g.admit([A], new AbortController(), ROOM)).then((admission) => {
        admitted = admission.admitted;
        return admission;
      });
      first.release([10]);
      // The wake-up comes 0.1 ms before the hold's end by the gate's clock, which is past it a reading later.
      t = 1010 - 0.1;
      tick = 0.2;
      await vi.advanceTimersByTimeAsync(10);
      await vi.advanceTimersByTimeAsync(5);
      expect(admitted).toBe(true);
      const admission = await next;
      if (admission.admitted) admission.pass.release();
      expect(g.activeKeys).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('lets a fresh request past a busy, held and queued key by the fresh lane, one at a time, one per spacing', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const g = gate(1, 5);
      // Busy: one in flight, one queued; then held for 5 s by its outcome.
      const busy = passOf(g.admit([A], new AbortController(), ROOM));
      const queued = Promise.resolve(g.admit([A], new AbortController(), ROOM));
      busy.release([5_000]);
      // A fresh request goes at once, by the fresh lane.
      const claim = (source: string) => ({ key: A, source, isFresh: () => true });
      const fresh = passOf(g.admit([A], new AbortController(), ROOM, claim('198.51.100.1')));
      // A second one waits for the first to end and for the spacing.
      let secondIn = false;
      const second = Promise.resolve(g.admit([A], new AbortController(), ROOM, claim('198.51.100.2'))).then((admission) => {
        secondIn = admission.admitted;
        return admission;
      });
      fresh.release([5_000]);
      await vi.advanceTimersByTimeAsync(999);
      expect(secondIn).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(secondIn).toBe(true);
      const admission = await second;
      if (admission.admitted) admission.pass.release();
      // The usual lane still waits out its hold.
      await vi.advanceTimersByTimeAsync(4_000);
      const usual = await queued;
      expect(usual.admitted).toBe(true);
      if (usual.admitted) usual.pass.release();
      await vi.advanceTimersByTimeAsync(5_000);
      expect(g.activeKeys).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps one fresh-lane place per address, and moves a request whose address failed meanwhile to the usual queue', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const g = gate(1, 5);
      passOf(g.admit([A], new AbortController(), ROOM)).release([10_000]);
      let dirty = false;
      const first = passOf(g.admit([A], new AbortController(), ROOM, { key: A, source: 'x', isFresh: () => !dirty }));
      // Two more from address x: the first of them waits in the fresh lane, the second with the usual ones.
      const lanes: string[] = [];
      const waitingFresh = Promise.resolve(g.admit([A], new AbortController(), ROOM, { key: A, source: 'x', isFresh: () => !dirty })).then((a) => (lanes.push('fresh-queued'), a));
      const waitingUsual = Promise.resolve(g.admit([A], new AbortController(), ROOM, { key: A, source: 'x', isFresh: () => !dirty })).then((a) => (lanes.push('usual-queued'), a));
      // x fails: its waiter is fresh no more when the lane frees.
      dirty = true;
      first.release();
      await vi.advanceTimersByTimeAsync(1_000);
      expect(lanes).toEqual([]);
      // Both wait out the usual lane's hold, behind each other: the one queued there first, then the one moved there.
      await vi.advanceTimersByTimeAsync(9_000);
      expect(lanes).toEqual(['usual-queued']);
      const usual = await waitingUsual;
      if (usual.admitted) usual.pass.release();
      const moved = await waitingFresh;
      expect(moved.admitted).toBe(true);
      if (moved.admitted) moved.pass.release();
      expect(lanes).toEqual(['usual-queued', 'fresh-queued']);
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
