/**
 * RedisThrottleStore on its own, against a throwaway redis-server: two store
 * instances stand for two mail hosts. Counting before evaluation, taking an
 * attempt back, turns across hosts, holds, a client that stops waiting, and
 * an unreachable Redis.
 */
import { describe, expect, it } from 'vitest';
import { KEY_NAMESPACE, RedisThrottleStore } from '../../src/auth/redis-throttle-store.js';
import type { SharedKey, SharedReservation } from '../../src/auth/throttle-store.js';
import { afterThisTest } from '../helpers/cleanup.js';
import { eventually } from '../helpers/daemon.js';
import { logSink } from '../helpers/log-sink.js';
import { ThrowawayRedis } from '../helpers/throwaway-redis.js';
import { freePort } from '../helpers/throwaway-mariadb.js';

const USER: SharedKey = { table: 'has-row', id: 'has-row\u0000alice' };
const ADDRESS: SharedKey = { table: 'address', id: 'address\u0000203.0.113.5' };
const NOBODY_LEAVES = new AbortController();

async function storeOn(url: string, deadlineMs = 200): Promise<RedisThrottleStore> {
  const store = new RedisThrottleStore({ url, deadlineMs, windowMs: 60_000, turnLeaseMs: 5_000, ownerAddressMs: 60_000, digestKey: Buffer.from('a key for the store tests, long') }, logSink('trace').logger);
  afterThisTest(() => store.close());
  return store;
}

/** Until the store's connection is up (it connects in the background). */
async function ready(store: RedisThrottleStore): Promise<void> {
  await eventually(async () => {
    const reservation = await store.reserve([{ table: 'no-row', id: `no-row\u0000probe-${Math.random()}` }], 0, NOBODY_LEAVES);
    if (typeof reservation !== 'object') return false;
    reservation.settle('not-counted', []);
    return true;
  });
}

async function reserve(store: RedisThrottleStore, keys: readonly SharedKey[], throttledAt = 0, cancellation: { signal: AbortSignal } = NOBODY_LEAVES): Promise<SharedReservation> {
  const reservation = await store.reserve(keys, throttledAt, cancellation);
  if (typeof reservation !== 'object') throw new Error(`expected a reservation, got ${String(reservation)}`);
  return reservation;
}

describe('RedisThrottleStore', () => {
  it('numbers attempts across hosts before they are evaluated, and takes back what did not count', async () => {
    const redis = await ThrowawayRedis.create();
    const [one, two] = [await storeOn(redis.url), await storeOn(redis.url)];
    await Promise.all([ready(one), ready(two)]);
    const first = await reserve(one, [ADDRESS, USER]);
    const second = await reserve(two, [ADDRESS, USER]);
    // The first is still being evaluated: the second sees it as a failure until it settles.
    expect(first.failuresBefore).toEqual([0, 0]);
    expect(second.failuresBefore).toEqual([1, 1]);
    first.settle('failure', [0, 0]);
    second.settle('not-counted', [0, 0]);
    await eventually(async () => (await reserve(one, [ADDRESS, USER])).failuresBefore.join() === '1,1');
  });

  it('starts a name over on success, but only takes the attempt back from an address', async () => {
    const redis = await ThrowawayRedis.create();
    const store = await storeOn(redis.url);
    await ready(store);
    for (let i = 0; i < 3; i += 1) (await reserve(store, [ADDRESS, USER])).settle('failure', [0, 0]);
    (await reserve(store, [ADDRESS, USER])).settle('success', [0, 0]);
    await eventually(async () => {
      const next = await reserve(store, [ADDRESS, USER]);
      next.settle('not-counted', [0, 0]);
      return next.failuresBefore.join() === '3,0';
    });
    const client = redis.client();
    for (const key of await client.keys(`${KEY_NAMESPACE}*`)) expect(await client.pttl(key)).toBeGreaterThan(0);
  });

  it('gives a throttled key one turn at a time across hosts, and keeps it closed for the hold', async () => {
    const redis = await ThrowawayRedis.create();
    const [one, two] = [await storeOn(redis.url), await storeOn(redis.url)];
    await Promise.all([ready(one), ready(two)]);
    for (let i = 0; i < 2; i += 1) (await reserve(one, [USER])).settle('failure', [0]);
    const holding = await reserve(one, [USER], 2);
    const started = performance.now();
    const waiting = reserve(two, [USER], 2);
    await new Promise((resolve) => setTimeout(resolve, 150));
    holding.settle('failure', [300]);
    const next = await waiting;
    // It waited for the other host's evaluation and then its hold.
    expect(performance.now() - started).toBeGreaterThanOrEqual(150 + 300 - 20);
    expect(next.failuresBefore[0]).toBeGreaterThanOrEqual(2);
    next.settle('failure', [0]);
  });

  it('lets a client that stops waiting for a turn go, and takes its attempt back', async () => {
    const redis = await ThrowawayRedis.create();
    const store = await storeOn(redis.url);
    await ready(store);
    for (let i = 0; i < 2; i += 1) (await reserve(store, [USER])).settle('failure', [0]);
    const holding = await reserve(store, [USER], 2);
    const leaving = new AbortController();
    const waiting = store.reserve([USER], 2, leaving);
    setTimeout(() => leaving.abort(), 100);
    expect(await waiting).toBe('cancelled');
    holding.settle('failure', [0]);
    // Three failures counted; the one that left is not among them.
    await eventually(async () => {
      const next = await reserve(store, [USER], 0);
      next.settle('not-counted', [0]);
      return next.failuresBefore[0] === 3;
    });
  });

  it('says it cannot answer, within its deadline, when Redis is not there', async () => {
    const store = await storeOn(`redis://127.0.0.1:${await freePort()}`, 100);
    const started = performance.now();
    expect(await store.reserve([USER], 1, NOBODY_LEAVES)).toBeUndefined();
    expect(await store.isOwnerAddress('alice', '203.0.113.5')).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(200);
  });
});
