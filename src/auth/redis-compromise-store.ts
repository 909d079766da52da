/**
 * The compromise watch's part of the throttle store (compromise-watch.ts):
 * per user, a sorted set of the networks its successful logins came from
 * (scored by time, trimmed to the window and to the few the signal needs),
 * a marker that one host has raised the signal this window, and the block.
 * Users and networks are stored as the throttle store's digests (HMAC with
 * its key file), never as names or addresses. Every call is under the
 * store's deadline, on its connection (redis-throttle-store.ts's shared).
 */
import type { CompromiseStore } from './compromise-watch.js';
import { KEY_NAMESPACE, type RedisThrottleStore } from './redis-throttle-store.js';

const PREFIX = `${KEY_NAMESPACE}compromise:`;

export class RedisCompromiseStore implements CompromiseStore {
  readonly #store: Pick<RedisThrottleStore, 'shared'>;

  constructor(store: Pick<RedisThrottleStore, 'shared'>) {
    this.#store = store;
  }

  noteNetwork(user: string, network: string, windowMs: number, keep: number): Promise<number | undefined> {
    return this.#store.shared(async (redis, digest) => {
      const key = `${PREFIX}networks:${digest(user)}`;
      const now = Date.now();
      const replies = await redis
        .multi()
        .zadd(key, now, digest(`${user}\u0000${network}`))
        .zremrangebyscore(key, '-inf', now - windowMs)
        // The newest `keep` are all the signal needs: a user's set never grows past them.
        .zremrangebyrank(key, 0, -(keep + 1))
        .zcard(key)
        .pexpire(key, windowMs)
        .exec();
      const count = replies?.[3]?.[1];
      if (typeof count !== 'number') throw new Error('the throttle store did not count the networks');
      return count;
    });
  }

  async claimSignal(user: string, windowMs: number): Promise<boolean | undefined> {
    const set = await this.#store.shared((redis, digest) => redis.set(`${PREFIX}raised:${digest(user)}`, '1', 'PX', windowMs, 'NX'));
    return set === undefined ? undefined : set === 'OK';
  }

  block(user: string, ms: number): void {
    void this.#store.shared((redis, digest) => redis.set(`${PREFIX}blocked:${digest(user)}`, '1', 'PX', ms));
  }

  async isBlocked(user: string): Promise<boolean | undefined> {
    const found = await this.#store.shared((redis, digest) => redis.exists(`${PREFIX}blocked:${digest(user)}`));
    return found === undefined ? undefined : found === 1;
  }

  async unblock(user: string): Promise<boolean | undefined> {
    // The networks and the marker go too: the account starts over, as the owner (or the administrator) asked.
    const replies = await this.#store.shared((redis, digest) => redis.multi().del(`${PREFIX}blocked:${digest(user)}`).del(`${PREFIX}networks:${digest(user)}`, `${PREFIX}raised:${digest(user)}`).exec());
    if (replies === undefined) return undefined;
    return replies?.[0]?.[1] === 1;
  }
}
