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
import { startCuttingProxy } from '../helpers/cutting-proxy.js';
import type { Redis } from 'ioredis';
import { createHmac } from 'node:crypto';

const USER: SharedKey = { table: 'has-row', id: 'has-row\u0000alice' };
const ADDRESS: SharedKey = { table: 'address', id: 'address\u0000203.0.113.5' };
const OWNER: SharedKey = { table: 'owner', id: 'owner\u0000alice\u0000203.0.113.5' };
const NOBODY_LEAVES = new AbortController();
const WINDOW_MS = 60_000;
const limits = (throttledAt: number) => ({ throttledAt, windowMs: WINDOW_MS });

const STORE_KEY = 'a key for the store tests, long';
const LEASE_MS = 1_500;

async function storeOn(url: string, deadlineMs = 200): Promise<RedisThrottleStore> {
  const store = new RedisThrottleStore({ url, deadlineMs, turnLeaseMs: LEASE_MS, ownerAddressMs: 60_000, digestKey: Buffer.from(STORE_KEY) }, logSink('trace').logger);
  afterThisTest(() => store.close());
  return store;
}

/** Until the store's connection is up (it connects in the background). */
async function ready(store: RedisThrottleStore): Promise<void> {
  await eventually(async () => {
    const reservation = await store.reserve([{ table: 'no-row', id: `no-row\u0000probe-${Math.random()}` }], limits(0), NOBODY_LEAVES);
    if (typeof reservation !== 'object') return false;
    reservation.settle('not-counted', []);
    return true;
  });
}

async function reserve(store: RedisThrottleStore, keys: readonly SharedKey[], throttledAt = 0, cancellation: { signal: AbortSignal } = NOBODY_LEAVES): Promise<SharedReservation> {
  const reservation = await store.reserve(keys, limits(throttledAt), cancellation);
  if (typeof reservation !== 'object') throw new Error(`expected a reservation, got ${String(reservation)}`);
  return reservation;
}

/** The store's keys and what each has left to live (-1: no expiry; a key gone meanwhile is left out). */
async function lifetimes(client: Redis, pattern = `${KEY_NAMESPACE}*`): Promise<Map<string, number>> {
  const keys = await client.keys(pattern);
  const ttls = await Promise.all(keys.map((key) => client.pttl(key)));
  return new Map(keys.flatMap((key, i) => (ttls[i] === -2 ? [] : [[key, ttls[i]!] as const])));
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
    // Each look is itself an attempt, given back at once; the settles above arrive in their own time.
    await eventually(async () => {
      const next = await reserve(one, [ADDRESS, USER]);
      next.settle('not-counted', [0, 0]);
      return next.failuresBefore.join() === '1,1';
    });
  });

  it('uses a count once: taken back, it reserves nothing and its attempt stays taken back; settled twice, it counts once', async () => {
    const redis = await ThrowawayRedis.create();
    const store = await storeOn(redis.url);
    await ready(store);
    const count = await store.count([USER], WINDOW_MS);
    count!.release();
    // The login counts on this host alone, as when the store cannot answer.
    expect(await count!.reserve({ throttledAt: 5 }, NOBODY_LEAVES)).toBeUndefined();
    const [first, second] = [await reserve(store, [USER]), await reserve(store, [USER])];
    // Taken back twice, the first would take the second's attempt with it.
    first.settle('not-counted', [0]);
    first.settle('not-counted', [0]);
    await eventually(async () => {
      const next = await reserve(store, [USER]);
      next.settle('not-counted', [0]);
      return next.failuresBefore.join() === '1';
    });
    second.settle('not-counted', [0]);
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
    for (const ttl of (await lifetimes(redis.client())).values()) expect(ttl).toBeGreaterThan(0);
  });

  it('counts a login in one round trip: the owner key alone once another host saw the address log in as the user', async () => {
    const redis = await ThrowawayRedis.create();
    const [one, two] = [await storeOn(redis.url), await storeOn(redis.url)];
    await ready(one);
    await ready(two);
    const client = redis.client();
    await client.flushall();
    await client.config('RESETSTAT');
    const probe = { user: 'alice', address: '203.0.113.5', key: OWNER };
    const stranger = await one.count([ADDRESS, USER], WINDOW_MS, probe);
    expect(stranger?.ownerKnown).toBe(false);
    expect(stranger?.failuresBefore).toEqual([0, 0]);
    // Nobody throttled: the reservation needs no further command.
    const reservation = await stranger!.reserve({ throttledAt: 5 }, NOBODY_LEAVES);
    expect(typeof reservation).toBe('object');
    const calls = async () => Number(/calls=(\d+)/.exec((await client.info('commandstats')).split('\n').find((line) => line.startsWith('cmdstat_evalsha:') || line.startsWith('cmdstat_eval:')) ?? '')?.[1] ?? 0);
    expect(await calls()).toBe(1);
    (reservation as SharedReservation).settle('success', [0, 0]);
    one.rememberOwnerAddress('alice', '203.0.113.5');
    // The other host's next login from that address counts under the owner key alone.
    await eventually(async () => {
      const owner = await two.count([ADDRESS, USER], WINDOW_MS, probe);
      owner?.release();
      return owner?.ownerKnown === true && owner.failuresBefore.length === 1;
    });
    // The address's and the name's counts were taken back and cleared, not left at one.
    await eventually(async () => (await client.keys(`${KEY_NAMESPACE}count:*`)).length === 0);
  });

  it('keeps a count for the throttle window from its last attempt, and a hold for the delay it earned', async () => {
    const redis = await ThrowawayRedis.create();
    const store = await storeOn(redis.url);
    await ready(store);
    const client = redis.client();
    await client.flushall();
    const reservation = await reserve(store, [ADDRESS, USER]);
    const counts = await lifetimes(client, `${KEY_NAMESPACE}count:*`);
    expect(counts.size).toBe(2);
    // The window, not more (a week would hold a user's count long after the guessing stopped), and not much less.
    for (const ttl of counts.values()) expect(ttl).toBeGreaterThan(WINDOW_MS - 2_000);
    for (const ttl of counts.values()) expect(ttl).toBeLessThanOrEqual(WINDOW_MS);
    reservation.settle('failure', [0, 700]);
    await eventually(async () => (await lifetimes(client, `${KEY_NAMESPACE}turn:*`)).size === 1);
    const [hold] = [...(await lifetimes(client, `${KEY_NAMESPACE}turn:*`)).values()];
    expect(hold).toBeGreaterThan(0);
    expect(hold).toBeLessThanOrEqual(700);
    // Taken back to nothing: the count goes, rather than staying at zero.
    const taken = await reserve(store, [{ table: 'no-row', id: 'no-row\u0000once' }]);
    taken.settle('not-counted', [0]);
    await eventually(async () => (await lifetimes(client, `${KEY_NAMESPACE}count:*`)).size === 2);
  });

  it('leaves no count without an expiry when the connection is cut right after a count reaches Redis', async () => {
    const redis = await ThrowawayRedis.create();
    // A store straight to Redis first: Redis then knows the store's scripts, so the cut one runs.
    const direct = await storeOn(redis.url);
    await ready(direct);
    const client = redis.client();
    await client.flushall();
    const proxy = await startCuttingProxy({ target: { host: '127.0.0.1', port: redis.port }, cutAfter: (words) => words.some((word) => word.includes(`${KEY_NAMESPACE}count:`)) });
    const cut = await storeOn(proxy.url);
    await eventually(async () => proxy.cutCommands.length > 0 || (await cut.reserve([ADDRESS, USER], limits(0), NOBODY_LEAVES)) !== undefined, 10_000, 50);
    expect(proxy.cutCommands.length).toBe(1);
    // The command that counted reached Redis whole; nothing after it did.
    await eventually(async () => (await lifetimes(client, `${KEY_NAMESPACE}count:*`)).size > 0);
    const withoutExpiry = [...(await lifetimes(client)).entries()].filter(([, ttl]) => ttl === -1);
    expect(withoutExpiry).toEqual([]);
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
    const waiting = store.reserve([USER], limits(2), leaving);
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

  it('takes over a turn no host could have written, and waits for a turn no longer than the lease', async () => {
    const redis = await ThrowawayRedis.create();
    const store = await storeOn(redis.url);
    await ready(store);
    const client = redis.client();
    const digest = createHmac('sha256', STORE_KEY).update(USER.id).digest('base64url');
    // Someone who can write to Redis: a count of a thousand, a turn with no expiry, then one with a day's.
    await client.set(`${KEY_NAMESPACE}count:${digest}`, '1000', 'PX', 60_000);
    for (const poison of [['forever'], ['a day', 'PX', 86_400_000]] as const) {
      await client.set(`${KEY_NAMESPACE}turn:${digest}`, ...(poison as [string]));
      const started = performance.now();
      const taken = await reserve(store, [USER], 5);
      expect(performance.now() - started).toBeLessThan(200);
      expect(taken.failuresBefore[0]).toBeGreaterThanOrEqual(1000);
      expect(await client.pttl(`${KEY_NAMESPACE}turn:${digest}`)).toBeLessThanOrEqual(LEASE_MS);
      taken.settle('not-counted', [0]);
    }
    // A turn rewritten again and again within the lease: waited for, up to the lease, then counted on this host alone.
    await client.set(`${KEY_NAMESPACE}turn:${digest}`, 'held', 'PX', 1_000);
    const keepWriting = setInterval(() => void client.set(`${KEY_NAMESPACE}turn:${digest}`, 'held', 'PX', 1_000), 100);
    try {
      const started = performance.now();
      expect(await store.reserve([USER], limits(5), NOBODY_LEAVES)).toBeUndefined();
      expect(performance.now() - started).toBeGreaterThanOrEqual(LEASE_MS - 50);
      expect(performance.now() - started).toBeLessThan(LEASE_MS + 500);
    } finally {
      clearInterval(keepWriting);
    }
  });

  it('takes a reply that came in time while this process was busy past the deadline (timers run before sockets are read)', async () => {
    const redis = await ThrowawayRedis.create();
    const { logger, records } = logSink('trace');
    const store = new RedisThrottleStore({ url: redis.url, deadlineMs: 100, turnLeaseMs: LEASE_MS, ownerAddressMs: 60_000, digestKey: Buffer.from(STORE_KEY) }, logger);
    afterThisTest(() => store.close());
    await ready(store);
    for (let i = 0; i < 3; i += 1) {
      const pending = store.reserve([USER], limits(0), NOBODY_LEAVES);
      // The count leaves at the end of the first quiet turn (the store gathers a turn's counts: redis-throttle-batch.ts);
      // then the event loop is held past the deadline, as on a host whose CPU is taken: Redis answers at once, and
      // the reply waits in the socket.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      const until = performance.now() + 300;
      while (performance.now() < until) {
        // busy
      }
      const reservation = await pending;
      expect(typeof reservation).toBe('object');
      if (typeof reservation === 'object') reservation.settle('not-counted', []);
    }
    expect(records().filter((record) => record.event === 'throttle-store')).toEqual([]);
  });

  it('gives up at its deadline on a Redis that accepts and does not answer', async () => {
    const redis = await ThrowawayRedis.create();
    const store = await storeOn(redis.url, 100);
    await ready(store);
    redis.pause();
    try {
      const started = performance.now();
      expect(await store.reserve([USER], limits(1), NOBODY_LEAVES)).toBeUndefined();
      expect(performance.now() - started).toBeLessThan(250);
    } finally {
      redis.resume();
    }
  });

  it('says it cannot answer, within its deadline, when Redis is not there', async () => {
    const store = await storeOn(`redis://127.0.0.1:${await freePort()}`, 100);
    const started = performance.now();
    expect(await store.reserve([USER], limits(1), NOBODY_LEAVES)).toBeUndefined();
    expect(await store.count([ADDRESS, USER], WINDOW_MS, { user: 'alice', address: '203.0.113.5', key: OWNER })).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(200);
  });
});
