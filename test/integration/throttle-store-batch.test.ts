/**
 * The shared throttle's writes gathered per turn of the event loop
 * (redis-throttle-batch.ts), against a throwaway redis-server, and a login's
 * count started beside its lookup (Turn.expect, throttle.ts): what Redis
 * runs, and what is left in it.
 */
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { BATCH_SCRIPT, MAX_BATCH, ThrottleBatch } from '../../src/auth/redis-throttle-batch.js';
import { KEY_NAMESPACE, RedisThrottleStore } from '../../src/auth/redis-throttle-store.js';
import { FailureThrottle } from '../../src/auth/throttle.js';
import { ErrorCodes } from '../../src/errors.js';
import { afterThisTest } from '../helpers/cleanup.js';
import { eventually } from '../helpers/daemon.js';
import { logSink } from '../helpers/log-sink.js';
import { ThrowawayRedis } from '../helpers/throwaway-redis.js';

const WINDOW_MS = 60_000;

/** Script calls Redis has run since its statistics were last reset. */
async function scriptCalls(client: Redis): Promise<number> {
  const stats = await client.info('commandstats');
  return [...stats.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)].reduce((sum, match) => sum + Number(match[2]), 0);
}

function batchOn(client: Redis, failures: Error[] = [], sentKeys: string[] = [], sentArgv: string[][] = []): ThrottleBatch {
  const scripted = client as Redis & { throttleBatch(n: number, ...args: string[]): Promise<number[]> };
  scripted.defineCommand('throttleBatch', { lua: BATCH_SCRIPT });
  return new ThrottleBatch((keys, argv) => (sentKeys.push(...keys), sentArgv.push([...argv]), scripted.throttleBatch(keys.length, ...keys, ...argv)), (error) => failures.push(error), 1_000);
}

async function storeOn(redis: ThrowawayRedis): Promise<RedisThrottleStore> {
  const store = new RedisThrottleStore({ url: redis.url, deadlineMs: 500, turnLeaseMs: 1_500, ownerAddressMs: 60_000, digestKey: Buffer.from('a key for the batch tests, long') }, logSink('trace').logger);
  afterThisTest(() => store.close());
  await eventually(async () => (await store.count([{ table: 'no-row', id: 'no-row\u0000warm-up' }], WINDOW_MS))?.release() === undefined);
  return store;
}

const NOBODY_LEAVES = new AbortController();
const hold = () => true;

describe('the throttle store, a turn at a time', () => {
  it('sends the counts, settles and owner markers of one turn as one script call, and gives each count its own reply', async () => {
    const redis = await ThrowawayRedis.create();
    const client = redis.client();
    const batch = batchOn(client);
    await client.set('marker:known', '1');
    await client.config('RESETSTAT');
    const [plain, owned, unowned] = await Promise.all([
      batch.count(['count:a', 'count:b'], WINDOW_MS),
      batch.count(['count:a', 'count:b'], WINDOW_MS, { marker: 'marker:known', ownerCount: 'count:owner' }),
      batch.count(['count:a', 'count:b'], WINDOW_MS, { marker: 'marker:none', ownerCount: 'count:owner' }),
      Promise.resolve(batch.mark('marker:new', 5_000)),
    ]);
    expect(await scriptCalls(client)).toBe(1);
    expect(plain).toEqual({ ownerKnown: false, counts: [1, 1] });
    // The owner's count alone moves when another host saw the address log in as the user.
    expect(owned).toEqual({ ownerKnown: true, counts: [1] });
    expect(unowned).toEqual({ ownerKnown: false, counts: [2, 2] });
    expect(await client.pttl('marker:new')).toBeGreaterThan(4_000);
    for (const key of ['count:a', 'count:b', 'count:owner']) expect(await client.pttl(key)).toBeGreaterThan(WINDOW_MS - 2_000);

    batch.settle(['count:a', 'count:b'], ['turn:a', 'turn:b'], WINDOW_MS, 'host:1', [
      { how: 'back', holdMs: 0, owned: false },
      { how: 'clear', holdMs: 700, owned: false },
    ]);
    await eventually(async () => (await client.exists('count:b')) === 0);
    expect(await client.get('count:a')).toBe('1');
    expect(await client.pttl('turn:b')).toBeGreaterThan(0);
    expect(await client.pttl('turn:b')).toBeLessThanOrEqual(700);
  });

  it('sends a turn only for the steps that touch it, and reads every settle of a batch with its own keys', async () => {
    const redis = await ThrowawayRedis.create();
    const client = redis.client();
    const sentKeys: string[] = [];
    const batch = batchOn(client, [], sentKeys);
    for (const key of ['count:a', 'count:b', 'count:c', 'count:d']) await client.set(key, '3');
    await client.set('turn:a', 'someone');
    await client.set('turn:c', 'host:1');
    await client.set('turn:d', 'someone else');
    await client.config('RESETSTAT');
    batch.settle(['count:a', 'count:b', 'count:c'], ['turn:a', 'turn:b', 'turn:c'], WINDOW_MS, 'host:1', [
      { how: 'back', holdMs: 0, owned: false },
      { how: 'keep', holdMs: 700, owned: false },
      { how: 'clear', holdMs: 0, owned: true },
    ]);
    batch.settle(['count:d'], ['turn:d'], WINDOW_MS, 'host:2', [{ how: 'back', holdMs: 0, owned: true }]);
    await eventually(async () => (await scriptCalls(client)) === 1);
    expect(sentKeys).toEqual(['count:a', 'count:b', 'count:c', 'turn:b', 'turn:c', 'count:d', 'turn:d']);
    expect(await client.mget('count:a', 'count:b', 'count:c', 'count:d')).toEqual(['2', '3', null, '2']);
    // turn:a was not part of it; turn:b closed for the hold; turn:c given back by its holder; turn:d is another host's.
    expect(await client.mget('turn:a', 'turn:b', 'turn:c', 'turn:d')).toEqual(['someone', 'host:1', null, 'someone else']);
    expect(await client.pttl('turn:b')).toBeLessThanOrEqual(700);
    await redis.destroy();
  });

  it('sends a login nobody throttles as four strings besides the window: a count and a settle of one key each', async () => {
    const redis = await ThrowawayRedis.create();
    const client = redis.client();
    const sentKeys: string[] = [];
    const sentArgv: string[][] = [];
    const batch = batchOn(client, [], sentKeys, sentArgv);
    await batch.count(['count:a'], WINDOW_MS);
    batch.settle(['count:a'], ['turn:a'], WINDOW_MS, 'host:1', [{ how: 'clear', holdMs: 0, owned: false }]);
    await eventually(async () => (await client.exists('count:a')) === 0);
    // Each string is a piece of the command's text in the daemon and one for Redis to parse, on every login.
    expect([...sentKeys, ...sentArgv.flat().filter((entry) => entry !== String(WINDOW_MS))]).toHaveLength(4);
    await redis.destroy();
  });

  it('counts each operation in its own window: a batch gathered in another goes first', async () => {
    const redis = await ThrowawayRedis.create();
    const client = redis.client();
    const batch = batchOn(client);
    await client.config('RESETSTAT');
    // A reload changed the window while counts were gathering.
    const replies = await Promise.all([batch.count(['count:old'], 600_000), batch.count(['count:new'], 30_000), batch.count(['count:old'], 30_000)]);
    expect(replies.map((reply) => reply.counts)).toEqual([[1], [1], [2]]);
    expect(await scriptCalls(client)).toBe(2);
    expect(await client.pttl('count:new')).toBeLessThanOrEqual(30_000);
    expect(await client.pttl('count:old')).toBeLessThanOrEqual(30_000);
    batch.mark('marker:a', 5_000);
    batch.settle(['count:old'], ['turn:old'], 600_000, 'host:1', [{ how: 'back', holdMs: 0, owned: false }]);
    await eventually(async () => (await client.get('count:old')) === '1');
    expect(await client.pttl('count:old')).toBeGreaterThan(30_000);
    expect(await client.pttl('marker:a')).toBeLessThanOrEqual(5_000);
    await redis.destroy();
  });

  it('sends a full batch at once and the rest after it, each count with its own reply', async () => {
    const redis = await ThrowawayRedis.create();
    const client = redis.client();
    const batch = batchOn(client);
    await client.config('RESETSTAT');
    const replies = await Promise.all(Array.from({ length: MAX_BATCH + 10 }, (_, i) => batch.count([`count:${i % 7}`], WINDOW_MS)));
    expect(await scriptCalls(client)).toBe(2);
    // Seven keys, counted in the order asked: the i-th count of a key sees i.
    expect(replies.map((reply) => reply.counts[0])).toEqual(Array.from({ length: MAX_BATCH + 10 }, (_, i) => Math.floor(i / 7) + 1));
    await redis.destroy();
  });

  it('gathers the settles nobody waits on over several turns, quiet turns between them, into one script call', async () => {
    const redis = await ThrowawayRedis.create();
    const client = redis.client();
    const batch = batchOn(client);
    const quietTurn = () => new Promise((resolve) => setImmediate(resolve));
    // The batch's timer counts whole milliseconds of the event loop's clock, so it may end a batch early; one run in
    // one script call is the rule working (the old rule sent each settle after the quiet turn that followed it).
    let calls = 0;
    for (let attempt = 1; attempt <= 20 && calls !== 1; attempt += 1) {
      await client.config('RESETSTAT');
      for (const name of ['a', 'b', 'c']) {
        batch.settle([`count:${name}`], [`turn:${name}`], WINDOW_MS, 'host:1', [{ how: 'clear', holdMs: 0, owned: false }]);
        // Two turns that bring nothing: a batch of counts would go after the first.
        await quietTurn();
        await quietTurn();
      }
      await eventually(async () => (await scriptCalls(client)) >= 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      calls = await scriptCalls(client);
    }
    expect(calls).toBe(1);
    // A count still goes after the first quiet turn, and takes the settles gathered so far with it.
    await client.config('RESETSTAT');
    batch.settle(['count:d'], ['turn:d'], WINDOW_MS, 'host:1', [{ how: 'clear', holdMs: 0, owned: false }]);
    expect(await batch.count(['count:e'], WINDOW_MS)).toEqual({ ownerKnown: false, counts: [1] });
    expect(await scriptCalls(client)).toBe(1);
    await redis.destroy();
  });

  it('sends a settle that closes a key or gives back a turn after the first quiet turn, as a count: other hosts wait on it', async () => {
    const redis = await ThrowawayRedis.create();
    const client = redis.client();
    const sentKeys: string[] = [];
    const batch = batchOn(client, [], sentKeys);
    const quietTurn = () => new Promise((resolve) => setImmediate(resolve));
    for (const step of [
      { how: 'keep', holdMs: 700, owned: false },
      { how: 'clear', holdMs: 0, owned: true },
    ] as const) {
      sentKeys.length = 0;
      batch.settle(['count:x'], ['turn:x'], WINDOW_MS, 'host:1', [step]);
      // The turn it arrived in, then one that brought nothing: by then it is on its way (the timer is not waited for).
      await quietTurn();
      await quietTurn();
      await quietTurn();
      expect(sentKeys).toEqual(['count:x', 'turn:x']);
    }
    await redis.destroy();
  });

  it('fails every count of a batch that did not run, and says so once', async () => {
    const redis = await ThrowawayRedis.create();
    const failures: Error[] = [];
    const batch = new ThrottleBatch(() => Promise.reject(new Error('connection is closed')), (error) => failures.push(error), 1_000);
    const counts = [batch.count(['count:a'], WINDOW_MS), batch.count(['count:b'], WINDOW_MS)];
    batch.settle(['count:c'], ['turn:c'], WINDOW_MS, 'host:1', [{ how: 'keep', holdMs: 0, owned: false }]);
    for (const count of counts) await expect(count).rejects.toThrow('connection is closed');
    expect(failures).toHaveLength(1);
    await redis.destroy();
  });

  it('counts a login beside its lookup: one count when the row says the name expected, the count taken back otherwise', async () => {
    const redis = await ThrowawayRedis.create();
    const client = redis.client();
    const store = await storeOn(redis);
    const throttle = new FailureThrottle({ afterFailures: 5, maxDelayMs: 1_000, windowMs: WINDOW_MS, ipv6PrefixBits: 64 }, logSink('trace').logger, undefined, store);
    await client.flushall();
    await client.config('RESETSTAT');
    const counts = async () => (await client.keys(`${KEY_NAMESPACE}count:*`)).length;

    // The row's name is the one expected: the count started beside the lookup is the login's only one.
    const expected = throttle.turn(undefined, NOBODY_LEAVES, hold);
    expected.expect('alice@example.org');
    // Counted before any claim: the lookup is still running.
    await eventually(async () => (await counts()) === 1);
    expect(await expected.claim('alice@example.org', 'has-row')).toBeUndefined();
    expect(await counts()).toBe(1);
    expected.settle({ result: 'success' }, 'alice@example.org');
    await eventually(async () => (await counts()) === 0);
    expect(await scriptCalls(client)).toBe(2);

    // No row: the name counts in the no-row table, and the expected count is taken back.
    const made = throttle.turn(undefined, NOBODY_LEAVES, hold);
    made.expect('nobody@example.org');
    expect(await made.claim('nobody@example.org', 'no-row')).toBeUndefined();
    made.settle({ result: 'failure', code: ErrorCodes.UNKNOWN_USER, reason: 'unknown user' }, 'nobody@example.org');
    await eventually(async () => (await counts()) === 1);

    // The backend could not answer: no claim at all, and nothing is left counted.
    const unanswered = throttle.turn(undefined, NOBODY_LEAVES, hold);
    unanswered.expect('carol@example.org');
    unanswered.settle({ result: 'temporary-failure', code: ErrorCodes.BACKEND_UNAVAILABLE, reason: 'down' }, 'carol@example.org');
    // Five calls came before this login's; its count is in the sixth, then taken back.
    await eventually(async () => (await scriptCalls(client)) >= 6);
    await eventually(async () => (await counts()) === 1);
  });
});
