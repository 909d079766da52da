import { describe, expect, it } from 'vitest';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { LookupBatcher, type BatchRun } from '../../src/backends/mysql/lookup-batch.js';

/** A statement runner the test answers by hand: every call is recorded with a way to answer it. */
function manualRun() {
  const calls: Array<{ names: readonly string[]; answer: () => void; fail: (error: Error) => void }> = [];
  const run: BatchRun = (names) =>
    new Promise((resolve, reject) => {
      calls.push({ names, answer: () => resolve(names.map((name) => [[`row of ${name}`]])), fail: reject });
    });
  return { run, calls };
}

const options = {
  maxInFlight: 4,
  maxBatch: 32,
  stallAfterMs: 60_000,
  gatherMs: 0,
  busyTurnMs: Infinity,
  maxQueue: 1000,
  maxWaitMs: 60_000,
  queueFull: () => new Error('queue full'),
  waitedTooLong: () => new Error('waited too long'),
  retrySingly: (error: unknown) => (error as Error).message.startsWith('statement:'),
};

/** Until the runner has been called this many times (the batcher asks on later turns). */
async function eventuallyCalled(calls: readonly unknown[], count: number): Promise<void> {
  for (let turns = 0; calls.length < count; turns += 1) {
    if (turns > 100) throw new Error(`the runner was called ${calls.length} times, not ${count}`);
    await nextTurn();
  }
}

/** Keeps the thread busy, as a turn that answers other logins does. */
function busyFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/** Until the runner has been called this many times, turn after turn, for at most `ms`. */
async function eventuallyCalledWithin(calls: readonly unknown[], count: number, ms: number): Promise<void> {
  const started = performance.now();
  while (calls.length < count) {
    if (performance.now() - started > ms) throw new Error(`the runner was called ${calls.length} times in ${ms} ms, not ${count}`);
    await nextTurn();
  }
}

describe('LookupBatcher', () => {
  it('asks for a lone lookup at the end of the turn, alone', async () => {
    const { run, calls } = manualRun();
    const batcher = new LookupBatcher(run, options);
    const pending = batcher.lookup('alice');
    expect(calls).toHaveLength(0);
    await nextTurn();
    expect(calls.map((call) => call.names)).toEqual([['alice']]);
    calls[0]!.answer();
    await expect(pending).resolves.toEqual([['row of alice']]);
  });

  it('asks for the lookups of one turn in one statement, each name once, and gives each its own rows', async () => {
    const { run, calls } = manualRun();
    const batcher = new LookupBatcher(run, options);
    const pending = ['alice', 'bob', 'alice', 'carol'].map((name) => batcher.lookup(name));
    await nextTurn();
    expect(calls.map((call) => call.names)).toEqual([['alice', 'bob', 'carol']]);
    calls[0]!.answer();
    expect(await Promise.all(pending)).toEqual([[['row of alice']], [['row of bob']], [['row of alice']], [['row of carol']]]);
  });

  it('keeps lookups that arrive while a statement is out, and asks for them together when it is back', async () => {
    const { run, calls } = manualRun();
    const batcher = new LookupBatcher(run, options);
    const first = batcher.lookup('alice');
    await nextTurn();
    const later = ['bob', 'carol', 'dave'].map((name) => batcher.lookup(name));
    await nextTurn();
    expect(calls).toHaveLength(1);
    calls[0]!.answer();
    await first;
    await nextTurn();
    expect(calls.map((call) => call.names)).toEqual([['alice'], ['bob', 'carol', 'dave']]);
    calls[1]!.answer();
    expect(await Promise.all(later)).toEqual([[['row of bob']], [['row of carol']], [['row of dave']]]);
  });

  it('fails every lookup of a statement that failed, and asks for the next ones as usual', async () => {
    const { run, calls } = manualRun();
    const batcher = new LookupBatcher(run, options);
    const failing = ['alice', 'bob'].map((name) => batcher.lookup(name));
    await nextTurn();
    const next = batcher.lookup('carol');
    calls[0]!.fail(new Error('host gone'));
    for (const pending of failing) await expect(pending).rejects.toThrow('host gone');
    await nextTurn();
    calls[1]!.answer();
    await expect(next).resolves.toEqual([['row of carol']]);
    expect(batcher.inFlight).toBe(0);
  });

  it("asks a batch whose statement failed for what it said again name by name: one name's error fails no other", async () => {
    const { run, calls } = manualRun();
    const batcher = new LookupBatcher(run, options);
    const [alice, lukasz, bob] = ['alice', 'łukasz', 'bob'].map((name) => batcher.lookup(name));
    await nextTurn();
    expect(calls.map((call) => call.names)).toEqual([['alice', 'łukasz', 'bob']]);
    calls[0]!.fail(new Error('statement: illegal mix of collations'));
    // One after the other, each alone.
    for (const [i, name] of ['alice', 'łukasz', 'bob'].entries()) {
      await eventuallyCalled(calls, i + 2);
      expect(calls[i + 1]!.names).toEqual([name]);
      if (name === 'łukasz') calls[i + 1]!.fail(new Error('statement: illegal mix of collations'));
      else calls[i + 1]!.answer();
    }
    await expect(alice).resolves.toEqual([['row of alice']]);
    await expect(bob).resolves.toEqual([['row of bob']]);
    await expect(lukasz).rejects.toThrow('illegal mix');
    expect(batcher.inFlight).toBe(0);
  });

  it('splits more names than one statement may carry', async () => {
    const { run, calls } = manualRun();
    const batcher = new LookupBatcher(run, { ...options, maxBatch: 2 });
    const pending = ['a', 'b', 'c'].map((name) => batcher.lookup(name));
    await nextTurn();
    expect(calls.map((call) => call.names)).toEqual([['a', 'b']]);
    calls[0]!.answer();
    await nextTurn();
    expect(calls.map((call) => call.names)).toEqual([['a', 'b'], ['c']]);
    calls[1]!.answer();
    expect(await Promise.all(pending)).toHaveLength(3);
  });

  it('lets a stalled statement stop holding the others back, up to maxInFlight statements in all', async () => {
    const { run, calls } = manualRun();
    const batcher = new LookupBatcher(run, { ...options, maxInFlight: 2, stallAfterMs: 20 });
    const stuck = batcher.lookup('slow');
    await nextTurn();
    const second = batcher.lookup('bob');
    await nextTurn();
    expect(calls).toHaveLength(1);
    await sleep(60);
    // The first one stalled: bob went out beside it.
    expect(calls.map((call) => call.names)).toEqual([['slow'], ['bob']]);
    const third = batcher.lookup('carol');
    await sleep(60);
    // Both out (one stalled, one stalled too by now): the cap holds carol back.
    expect(calls).toHaveLength(2);
    expect(batcher.inFlight).toBe(2);
    calls[1]!.answer();
    await expect(second).resolves.toEqual([['row of bob']]);
    await nextTurn();
    expect(calls.map((call) => call.names)).toEqual([['slow'], ['bob'], ['carol']]);
    calls[2]!.answer();
    calls[0]!.answer();
    await expect(third).resolves.toEqual([['row of carol']]);
    await expect(stuck).resolves.toEqual([['row of slow']]);
  });

  it('refuses at once a lookup beyond maxQueue while the database does not answer', async () => {
    const { run, calls } = manualRun();
    const batcher = new LookupBatcher(run, { ...options, maxInFlight: 1, maxQueue: 3 });
    const stuck = batcher.lookup('first');
    await nextTurn();
    const waiting = ['a', 'b', 'c'].map((name) => batcher.lookup(name));
    await expect(batcher.lookup('d')).rejects.toThrow('queue full');
    expect(calls).toHaveLength(1);
    calls[0]!.answer();
    await stuck;
    await nextTurn();
    expect(calls.map((call) => call.names)).toEqual([['first'], ['a', 'b', 'c']]);
    calls[1]!.answer();
    expect(await Promise.all(waiting)).toHaveLength(3);
  });

  it('refuses, without asking, the lookups that waited longer than maxWaitMs for their turn', async () => {
    const { run, calls } = manualRun();
    const batcher = new LookupBatcher(run, { ...options, maxInFlight: 1, maxWaitMs: 30 });
    const stuck = batcher.lookup('first');
    await nextTurn();
    const stale = ['old-1', 'old-2'].map((name) => batcher.lookup(name));
    await sleep(50);
    const fresh = batcher.lookup('fresh');
    calls[0]!.answer();
    await stuck;
    for (const pending of stale) await expect(pending).rejects.toThrow('waited too long');
    await nextTurn();
    expect(calls.map((call) => call.names)).toEqual([['first'], ['fresh']]);
    calls[1]!.answer();
    await expect(fresh).resolves.toEqual([['row of fresh']]);
  });

  it('while lookups arrive turn after turn, waits for them and asks for all of them together', async () => {
    const { run, calls } = manualRun();
    const batcher = new LookupBatcher(run, { ...options, gatherMs: 60_000 });
    const pending = [batcher.lookup('alice')];
    for (const name of ['bob', 'carol']) {
      await nextTurn();
      pending.push(batcher.lookup(name));
    }
    await nextTurn();
    expect(calls).toHaveLength(0);
    // A turn in which nothing arrived: now they go.
    await nextTurn();
    await nextTurn();
    expect(calls.map((call) => call.names)).toEqual([['alice', 'bob', 'carol']]);
    calls[0]!.answer();
    expect(await Promise.all(pending)).toEqual([[['row of alice']], [['row of bob']], [['row of carol']]]);
  });

  it('asks for a lone lookup after one quiet turn, not after gatherMs', async () => {
    const { run, calls } = manualRun();
    const batcher = new LookupBatcher(run, { ...options, gatherMs: 60_000 });
    const pending = batcher.lookup('alice');
    await nextTurn();
    await nextTurn();
    expect(calls.map((call) => call.names)).toEqual([['alice']]);
    calls[0]!.answer();
    await expect(pending).resolves.toEqual([['row of alice']]);
  });

  it('keeps gathering through a turn busy with other work (logins that need no lookup), and asks after an idle one', async () => {
    const { run, calls } = manualRun();
    const batcher = new LookupBatcher(run, { ...options, gatherMs: 60_000, busyTurnMs: 3 });
    const pending = [batcher.lookup('alice')];
    // The batcher's first look: alice has just arrived, so it looks again after the next turn.
    await nextTurn();
    // That turn brings no lookup, but answers logins that need none (-c's repeat logins).
    busyFor(10);
    await nextTurn();
    expect(calls).toHaveLength(0);
    pending.push(batcher.lookup('bob'));
    await eventuallyCalled(calls, 1);
    expect(calls.map((call) => call.names)).toEqual([['alice', 'bob']]);
    calls[0]!.answer();
    expect(await Promise.all(pending)).toEqual([[['row of alice']], [['row of bob']]]);
  });

  it('stops gathering through busy turns once the oldest lookup has waited gatherMs', async () => {
    const { run, calls } = manualRun();
    // Every turn counts as busy: only gatherMs ends the wait.
    const batcher = new LookupBatcher(run, { ...options, gatherMs: 20, busyTurnMs: 0 });
    const started = performance.now();
    const pending = batcher.lookup('alice');
    await eventuallyCalledWithin(calls, 1, 2000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(20);
    expect(calls.map((call) => call.names)).toEqual([['alice']]);
    calls[0]!.answer();
    await expect(pending).resolves.toEqual([['row of alice']]);
  });

  it('stops waiting for more once the oldest lookup has waited gatherMs, though lookups keep arriving', async () => {
    const { run, calls } = manualRun();
    // A lookup every turn for gatherMs: a fast machine turns thousands of times in 20 ms, more than options.maxQueue.
    const batcher = new LookupBatcher(run, { ...options, maxBatch: 100_000, maxQueue: 10_000_000, gatherMs: 20 });
    const started = performance.now();
    const pending: Array<Promise<unknown>> = [];
    while (calls.length === 0 && performance.now() - started < 2000) {
      pending.push(batcher.lookup(`user${pending.length}`));
      await nextTurn();
    }
    expect(performance.now() - started).toBeGreaterThanOrEqual(20);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(calls[0]!.names.length).toBeGreaterThan(1);
    calls[0]!.answer();
    await Promise.all(pending.slice(0, calls[0]!.names.length));
  });

  it('does not wait for more once maxBatch names wait', async () => {
    const { run, calls } = manualRun();
    const batcher = new LookupBatcher(run, { ...options, maxBatch: 2, gatherMs: 60_000 });
    const full = ['alice', 'bob'].map((name) => batcher.lookup(name));
    await nextTurn();
    expect(calls.map((call) => call.names)).toEqual([['alice', 'bob']]);
    calls[0]!.answer();
    expect(await Promise.all(full)).toHaveLength(2);
  });
});
