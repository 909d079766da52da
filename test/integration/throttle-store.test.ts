/**
 * The throttle shared through Redis (--throttle-store), against a throwaway
 * redis-server: three daemons as three mail hosts behind a balancer. A
 * guesser spreading its guesses over the three gets the bound one daemon
 * gives (and three times it without the store, which shows the measure can
 * fail); Redis holds only digests that expire; Redis down or stuck never
 * fails a login nor slows it past the deadline, and the daemons go back to
 * Redis when it returns.
 */
import { createHash, createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runGuesser } from '../../bench/spread-guesser.js';
import { KEY_NAMESPACE } from '../../src/auth/redis-throttle-store.js';
import { askDaemon } from '../../src/protocol/client.js';
import { encodeRequest } from '../../src/protocol/codec.js';
import { DEMO_HASH, eventually, startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/temp.js';
import { redisProblems, ThrowawayRedis } from '../helpers/throwaway-redis.js';

const USERS = [`demo:${DEMO_HASH}`, `bob:${DEMO_HASH}`];
/** Small numbers so the bound shows in seconds: three free failures, then delays up to 600 ms. */
const THROTTLE = { throttleAfter: '3', throttleMaxDelay: '600', answerTimeout: '5000' };
const GUESS_MS = 4_000;

async function hosts(count: number, store?: { url: string; keyFile?: string; timeout?: string }): Promise<TestDaemon[]> {
  const flags = { ...THROTTLE, ...(store ? { throttleStore: store.url, ...(store.keyFile ? { throttleStoreKeyFile: store.keyFile } : {}), ...(store.timeout ? { throttleStoreTimeout: store.timeout } : {}) } : {}) };
  return Promise.all(Array.from({ length: count }, () => startTestDaemon(USERS, flags)));
}

async function login(socketPath: string, password: string, clientAddress?: string): Promise<{ answer: string; ms: number }> {
  const started = performance.now();
  const outcome = await askDaemon(socketPath, encodeRequest({ login: 'demo', password, service: 'smtp', realm: '', ...(clientAddress ? { clientAddress } : {}) }), 10_000);
  return { answer: outcome.kind === 'reply' ? outcome.text.toString().slice(0, 2) : 'none', ms: performance.now() - started };
}

/** Until the store's connection is up: the first logins after start count locally. */
async function storeReady(redis: ThrowawayRedis, daemons: readonly TestDaemon[]): Promise<void> {
  const client = redis.client();
  await eventually(async () => {
    const clients = String(await client.call('CLIENT', 'LIST'));
    return clients.split('\n').filter((line) => line.includes('name=saslauthd-mysql')).length >= daemons.length;
  });
}

function keyFile(secret: string): string {
  const file = path.join(tempDir(), 'throttle.key');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return file;
}

describe('the throttle shared through Redis', () => {
  it('gives a guesser spread over three hosts the bound one host gives', async () => {
    expect(redisProblems()).toEqual([]);
    const redis = await ThrowawayRedis.create();

    const [alone] = await hosts(1);
    const single = await runGuesser({ sockets: [alone!.socketPath], login: 'demo', realm: '', concurrency: 6, durationMs: GUESS_MS });

    const unshared = await hosts(3);
    const spreadAlone = await runGuesser({ sockets: unshared.map((d) => d.socketPath), login: 'demo', realm: '', concurrency: 6, durationMs: GUESS_MS });

    // The bound of a store that answers: under a loaded CI machine the three hosts (one process here) can take
    // longer than the default 100 ms deadline, and a host that stops waiting counts alone for a while (its own test
    // below), which would measure that instead. A deadline nothing here reaches, and a check that none fell back.
    const shared = await hosts(3, { url: redis.url, keyFile: keyFile('a secret all three hosts share'), timeout: '3000' });
    await storeReady(redis, shared);
    const spreadShared = await runGuesser({ sockets: shared.map((d) => d.socketPath), login: 'demo', realm: '', concurrency: 6, durationMs: GUESS_MS });
    const fellBack = shared.flatMap((d) => d.sink.records().filter((r) => /throttle store unreachable/.test(String(r.msg))).map((r) => String(r.reason)));
    expect(fellBack).toEqual([]);

    process.stderr.write(`[spread guesser, ${GUESS_MS} ms] one host: ${single.evaluated}; three hosts counting alone: ${spreadAlone.evaluated} ${JSON.stringify(spreadAlone.perSocket)}; three hosts sharing Redis: ${spreadShared.evaluated} ${JSON.stringify(spreadShared.perSocket)}\n`);
    for (const run of [single, spreadAlone, spreadShared]) expect(run.ok).toBe(0);
    // Without the store the spread guesser gets about a budget per host: the measure can fail.
    expect(spreadAlone.evaluated).toBeGreaterThan(single.evaluated * 2);
    // With it, the bound of one host (the jitter of the delays allows a little either way).
    expect(spreadShared.evaluated).toBeLessThanOrEqual(Math.ceil(single.evaluated * 1.3) + 1);
    // Every host served guesses: the balancer really spread them.
    for (const n of spreadShared.perSocket) expect(n).toBeGreaterThan(0);
  }, 60_000);

  it('stores only digests under its namespace, keyed by the shared secret, each expiring', async () => {
    const redis = await ThrowawayRedis.create();
    const secret = 'the key in /etc/saslauthd-mysql/throttle.key';
    const [host] = await hosts(1, { url: redis.url, keyFile: keyFile(secret) });
    await storeReady(redis, [host!]);
    const address = '198.51.100.7';
    for (let i = 0; i < 4; i += 1) expect((await login(host!.socketPath, `wrong-${i}`, `${address};4242`)).answer).toBe('NO');

    const client = redis.client();
    const keys = await client.keys('*');
    expect(keys.length).toBeGreaterThan(0);
    const dump = JSON.stringify(keys) + JSON.stringify(await Promise.all(keys.map((key) => client.get(key).catch(() => null))));
    for (const clear of ['demo', address, 'wrong-']) expect(dump).not.toContain(clear);
    for (const key of keys) {
      expect(key.startsWith(KEY_NAMESPACE)).toBe(true);
      // -1 would be a key without expiry; -2 one that expired since it was listed (a short hold).
      expect(await client.pttl(key)).not.toBe(-1);
    }
    // Keyed: the user's count is under HMAC(secret, ...), not under a digest anyone could compute.
    const keyed = `${KEY_NAMESPACE}count:${createHmac('sha256', secret).update('has-row\u0000demo').digest('base64url')}`;
    const plain = `${KEY_NAMESPACE}count:${createHash('sha256').update('has-row\u0000demo').digest('base64url')}`;
    expect(keys).toContain(keyed);
    expect(keys).not.toContain(plain);
  }, 30_000);

  it('warns at start-up without a shared key, and then uses plain SHA-256', async () => {
    const redis = await ThrowawayRedis.create();
    const [host] = await hosts(1, { url: redis.url });
    expect(host!.sink.records().some((r) => r.level >= 40 && /plain SHA-256/.test(String(r.msg)))).toBe(true);
    await storeReady(redis, [host!]);
    expect((await login(host!.socketPath, 'wrong')).answer).toBe('NO');
    const plain = `${KEY_NAMESPACE}count:${createHash('sha256').update('has-row\u0000demo').digest('base64url')}`;
    await eventually(async () => (await redis.client().exists(plain)) === 1);
  }, 30_000);

  it('answers every login, within the deadline, with Redis down or stuck, and shares again when it returns', async () => {
    const redis = await ThrowawayRedis.create();
    const deadline = 100;
    const [host] = await hosts(1, { url: redis.url, keyFile: keyFile('another shared secret, long enough'), timeout: String(deadline) });
    await storeReady(redis, [host!]);
    const warnings = () => host!.sink.records().filter((r) => /throttle store unreachable/.test(String(r.msg))).length;

    // Stuck: the connection stays open and nothing is answered.
    redis.pause();
    const stuck = [await login(host!.socketPath, 'demo'), await login(host!.socketPath, 'wrong'), await login(host!.socketPath, 'demo')];
    expect(stuck.map((r) => r.answer)).toEqual(['OK', 'NO', 'OK']);
    // One login may wait out the deadline; the next ones skip the store without waiting.
    expect(Math.max(...stuck.map((r) => r.ms))).toBeLessThan(deadline + 400);
    expect(warnings()).toBe(1);
    redis.resume();

    // Down: refused connections.
    await redis.stop();
    const down = [await login(host!.socketPath, 'demo'), await login(host!.socketPath, 'wrong')];
    expect(down.map((r) => r.answer)).toEqual(['OK', 'NO']);
    expect(Math.max(...down.map((r) => r.ms))).toBeLessThan(deadline + 400);
    expect(warnings()).toBe(1);

    // Back: the daemon reconnects by itself and counts in Redis again.
    await redis.start();
    const client = redis.client();
    let attempt = 0;
    await eventually(async () => {
      // A new wrong password each time: a repeat of one is not counted again.
      await login(host!.socketPath, `wrong-again-${(attempt += 1)}`);
      return (await client.keys(`${KEY_NAMESPACE}count:*`)).length > 0;
    }, 15_000, 300);
    expect(host!.sink.records().some((r) => /throttle store answers again/.test(String(r.msg)))).toBe(true);
  }, 60_000);

  it('knows an owner address another host saw log in, so guesses elsewhere do not hold its owner back', async () => {
    const redis = await ThrowawayRedis.create();
    const [first, second] = await hosts(2, { url: redis.url, keyFile: keyFile('a secret both hosts share, long') });
    await storeReady(redis, [first!, second!]);
    const owner = '192.0.2.10;1111';
    expect((await login(first!.socketPath, 'demo', owner)).answer).toBe('OK');
    // A guesser elsewhere throttles the user on both hosts...
    for (let i = 0; i < 6; i += 1) await login(i % 2 === 0 ? first!.socketPath : second!.socketPath, `guess-${i}`, `203.0.113.${i};2222`);
    expect((await login(second!.socketPath, 'guess-x', '203.0.113.99;3333')).ms).toBeGreaterThan(100);
    // ...but the owner's login on the other host is not delayed.
    const ownerLogin = await login(second!.socketPath, 'demo', owner);
    expect(ownerLogin.answer).toBe('OK');
    expect(ownerLogin.ms).toBeLessThan(100);
  }, 30_000);
});
