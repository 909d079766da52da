/**
 * The throttle's counts in Redis (ioredis), shared by every daemon pointed at
 * the same server. Every write that creates or changes a count sets its
 * expiry in the same script, so no count can be left without one, whatever
 * happens to the connection between two commands:
 *   count   the one round trip of a login nobody throttles, sent beside its
 *           lookup: whether another host saw the address log in as the user
 *           (then only the owner key counts), and INCR + PEXPIRE for every
 *           key, before the password is evaluated, so guesses fired at
 *           several hosts at once are numbered one by one; the window
 *           restarts with every attempt, as the local count's does
 *   turn    one script: once a key is throttled, one evaluation at a time
 *           across every host; the lease ends with the answer deadline so a
 *           host that dies holding it blocks nobody for long. A turn key no
 *           host could have written (no expiry, or one past the lease) is
 *           taken over, and no login waits for a turn longer than the lease:
 *           whoever can write to Redis cannot hold a user's logins back.
 *           A login from a fresh address may instead take the name's fresh
 *           slot (SET PX the spacing, guess-gate.ts's fresh lane), which
 *           lapses by itself: one such login per spacing across every host
 *   settle  after the answer: take an attempt back (DECR, under the window
 *           again, or gone at zero), start a name over (DEL), close a key
 *           for the delay a failure earned (SET PX), give a turn back (DEL,
 *           only the turn this login holds)
 *   owner   SET PX: an address that logged in as a user, for every host
 * Counts, settles and owner markers of one turn of the event loop go to
 * Redis together, as one script call (redis-throttle-batch.ts); a turn is
 * its own script, on the throttled path only.
 * Rate-limiting libraries count and block; this throttle delays and takes
 * turns (docs/security.md), so the commands are written here.
 *
 * Names and addresses never reach Redis: keys are digests, HMAC-SHA-256 under
 * the key every host shares (--throttle-store-key-file), else plain SHA-256,
 * which a reader of Redis could test guesses of names against (the daemon
 * warns at start-up). Values are counts and markers, never a password or a
 * digest of one.
 *
 * Deadlines: a login waits `deadlineMs` at most for Redis (withDeadline; a
 * count, its batch's timer), nothing queues while Redis is unreachable
 * (enableOfflineQueue off), and a reply already in the socket when the
 * deadline passes is still read (timers run before sockets are read).
 * ioredis's commandTimeout, much longer, only reaps what a hung Redis never
 * answers. After a failure the store is left alone for RETRY_AFTER_MS (logins
 * count locally), then tried again; one line says it went away, one that it
 * is back.
 */
import { createHash, createHmac } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Cancellation } from '../common/cancellation.js';
import { RecentMemo } from '../common/recent-memo.js';
import { BATCH_SCRIPT, ThrottleBatch, touchesTurn, type CountReply, type SettleStep } from './redis-throttle-batch.js';
import { CountedAttempt, NO_TOKEN, type AttemptSteps } from './counted-attempt.js';
import type { OwnerProbe, ReserveLimits, SharedCount, SharedKey, SharedOutcome, SharedReservation, ThrottleStore } from './throttle-store.js';

export interface RedisThrottleStoreSettings {
  /** redis://[user:pass@]host:port[/db] or rediss:// */
  readonly url: string;
  /** Every command's deadline. */
  readonly deadlineMs: number;
  /** How long a turn is held at most (the answer deadline): a host that died holding it blocks nobody longer. */
  readonly turnLeaseMs: number;
  /** How long an owner address is remembered. */
  readonly ownerAddressMs: number;
  /** The key every host shares for the digests; without it, plain SHA-256. */
  readonly digestKey?: Buffer;
}

export const KEY_NAMESPACE = 'saslauthd-mysql:throttle:';
/** ioredis drops a command a hung Redis never answers after this many deadlines (logins stopped waiting long before). */
const REAP_AFTER_DEADLINES = 10;
/** After a failed or late command, logins count locally this long before the store is tried again. */
export const RETRY_AFTER_MS = 2_000;
/** Waiting for another host's turn: look again after the time it has left, within these bounds. */
const TURN_POLL_MIN_MS = 5;
const TURN_POLL_MAX_MS = 250;
/** Digests of names and addresses remembered: those of the last this many ids asked for, at least (recent-memo.ts). */
const DIGESTS_REMEMBERED = 2_048;
/** A store someone else writes to is reported at most this often. */
const HELD_TOO_LONG_LOG_MS = 60_000;

/**
 * KEYS[1]: a turn; KEYS[2], for a login from a fresh address: the name's
 * fresh-lane slot. ARGV[1]: this login's token; ARGV[2]: the lease; ARGV[3]:
 * the fresh lane's spacing. Takes the turn when it is free or holds what no
 * host writes (no expiry, or longer than any lease or hold): 0. Else, for a
 * fresh login, the fresh slot when it is free (it lapses by itself after the
 * spacing): -1. Else how long to wait before asking again.
 */
const TAKE_TURN_SCRIPT = `
local left = redis.call('PTTL', KEYS[1])
if left == -2 or left == -1 or left > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 0
end
if #KEYS > 1 then
  local spacing = redis.call('PTTL', KEYS[2])
  if spacing == -2 or spacing == -1 or spacing > tonumber(ARGV[3]) then
    redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
    return -1
  end
  if spacing < left then left = spacing end
end
return left`;

/** The scripts, as ioredis defines them (EVALSHA, and EVAL once when Redis does not know the script yet). */
interface ThrottleScripts {
  throttleBatch(keyCount: number, keys: readonly string[], argv: readonly string[]): Promise<number[]>;
  throttleTakeTurn(keyCount: number, ...keysAndArgs: Array<string | number>): Promise<number>;
}

export class RedisThrottleStore implements ThrottleStore {
  readonly #settings: RedisThrottleStoreSettings;
  readonly #log: Logger;
  readonly #redis: Redis & ThrottleScripts;
  readonly #marker = `${hostname()}:${process.pid}`;
  /** Numbers this host's turns, so a login gives back only the turn it holds. */
  #turns = 0;
  #skipUntil = 0;
  #down = false;
  #toldHeldTooLongAt = Number.NEGATIVE_INFINITY;
  #closed = false;
  /** Counts, settles and owner markers, sent once a turn (redis-throttle-batch.ts). */
  readonly #batch: ThrottleBatch;
  /** Digests of recent ids: bounded (twice DIGESTS_REMEMBERED at most), about 150 bytes an entry. */
  readonly #digests: RecentMemo<string, string>;

  constructor(settings: RedisThrottleStoreSettings, log: Logger) {
    this.#settings = settings;
    this.#log = log;
    const { digestKey } = settings;
    this.#digests = new RecentMemo(DIGESTS_REMEMBERED, (id) => (digestKey ? createHmac('sha256', digestKey).update(id).digest('base64url') : createHash('sha256').update(id).digest('base64url')));
    const redis = new Redis(settings.url, {
      commandTimeout: Math.max(settings.deadlineMs * REAP_AFTER_DEADLINES, 1_000),
      connectTimeout: Math.max(settings.deadlineMs, 1_000),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // Reconnect forever, at most every 2 s: the store comes back by itself.
      retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
      connectionName: 'saslauthd-mysql',
      // The store gathers a turn's writes itself (redis-throttle-batch.ts) and sends them at the turn's end;
      // ioredis's own gathering would hold them back one more turn of the event loop.
      enableAutoPipelining: false,
    });
    redis.defineCommand('throttleBatch', { lua: BATCH_SCRIPT });
    redis.defineCommand('throttleTakeTurn', { lua: TAKE_TURN_SCRIPT });
    this.#redis = redis as Redis & ThrottleScripts;
    // Without a listener an error event would end the process; each is one line at most (#failed).
    this.#redis.on('error', (error: Error) => this.#failed(error));
    this.#batch = new ThrottleBatch(
      // ioredis flattens array arguments itself: spread, a batch's hundreds of strings would be copied twice more.
      (keys, argv) => this.#redis.throttleBatch(keys.length, keys, argv),
      (error) => this.#failed(error),
      settings.deadlineMs,
    );
  }

  /** The server and database, for the start-up line: never the password. */
  static describe(url: string): string {
    const parsed = URL.canParse(url) ? new URL(url) : undefined;
    return parsed ? `${parsed.protocol}//${parsed.host}${parsed.pathname.length > 1 ? parsed.pathname : ''}` : 'an invalid URL';
  }

  async count(asked: readonly SharedKey[], windowMs: number, owner?: OwnerProbe): Promise<SharedCount | undefined> {
    if (!this.#usable()) return undefined;
    // One digest per key, for its count and its turn.
    const askedDigests: string[] = [];
    const countKeys: string[] = [];
    for (const key of asked) {
      const digest = this.#digest(key.id);
      askedDigests.push(digest);
      countKeys.push(countKey(digest));
    }
    const ownerDigest = owner && this.#digest(owner.key.id);
    let reply: CountReply;
    try {
      // The batch keeps the deadline (one timer for all the counts it carries).
      reply = await this.#batch.count(countKeys, windowMs, owner && { marker: this.#ownerMarker(owner.user, owner.address), ownerCount: countKey(ownerDigest!) });
    } catch (error) {
      this.#failed(error as Error);
      return undefined;
    }
    this.#answered();
    const { ownerKnown } = reply;
    const failuresBefore: number[] = [];
    for (const n of reply.counts) failuresBefore.push(Math.max(0, n - 1));
    return ownerKnown ? new CountedAttempt(this.#attempts, [owner!.key], [ownerDigest!], windowMs, true, failuresBefore) : new CountedAttempt(this.#attempts, asked, askedDigests, windowMs, false, failuresBefore);
  }

  /** Count and, for keys already throttled, take their turns: count() and its reserve() in one call. */
  async reserve(keys: readonly SharedKey[], { windowMs, ...limits }: ReserveLimits & { readonly windowMs: number }, cancellation: Cancellation): Promise<SharedReservation | 'cancelled' | undefined> {
    return (await this.count(keys, windowMs))?.reserve(limits, cancellation);
  }

  /** What a counted attempt asks of the store: made once, so that a login's count carries no closures of its own. */
  readonly #attempts: AttemptSteps = {
    takeTurns: (attempt, limits, cancellation) => this.#takeTurns(attempt, limits, cancellation),
    settle: (attempt, outcome, holdMs) => this.#settle(attempt, outcome, holdMs),
    // A token this host has not given out yet: the value of a turn or hold it writes.
    newToken: () => `${this.#marker}:${(this.#turns += 1)}`,
  };

  /** A counted attempt's turns, for the keys already throttled (more round trips, on the throttled path only). */
  async #takeTurns(attempt: CountedAttempt, { throttledAt, fresh }: ReserveLimits, cancellation: Cancellation): Promise<SharedReservation | 'cancelled' | undefined> {
    const { keys, digests, failuresBefore, turns } = attempt;
    try {
      for (let i = 0; i < keys.length; i += 1) {
        if (failuresBefore[i]! < throttledAt) continue;
        const lane = fresh?.index === i ? { slot: freshKey(digests[i]!), spacingMs: fresh.spacingMs } : undefined;
        const turn = await this.#takeTurn(turnKey(digests[i]!), attempt.token, cancellation, lane);
        // The fresh slot is no turn: nothing to give back, it lapses by itself.
        if (turn === 'fresh') continue;
        if (turn !== 'taken') {
          attempt.settle('not-counted', []);
          if (turn === 'cancelled') return 'cancelled';
          this.#heldTooLong();
          return undefined;
        }
        turns.push(i);
      }
    } catch (error) {
      attempt.settle('not-counted', []);
      this.#failed(error as Error);
      return undefined;
    }
    if (turns.length > 0) this.#answered();
    return attempt;
  }

  rememberOwnerAddress(user: string, address: string): void {
    if (!this.#usable()) return;
    this.#batch.mark(this.#ownerMarker(user, address), this.#settings.ownerAddressMs);
  }

  /** The key that says some host saw this address log in as this user. */
  #ownerMarker(user: string, address: string): string {
    return `${KEY_NAMESPACE}owner:${this.#digest(`${user}\u0000${address}`)}`;
  }

  /**
   * Another part's commands on the store's connection, under its deadline and
   * its digests (compromise-store.ts): undefined when the store cannot answer
   * in time, which counts as the store being away, as a reservation's would.
   */
  async shared<T>(command: (redis: Redis, digest: (id: string) => string) => Promise<T>): Promise<T | undefined> {
    if (!this.#usable()) return undefined;
    try {
      const value = await this.#withDeadline(command(this.#redis, (id) => this.#digest(id)));
      this.#answered();
      return value;
    } catch (error) {
      this.#failed(error as Error);
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    // QUIT is sent after what is already written: the settles still gathering go first.
    this.#batch.flush();
    try {
      await this.#redis.quit();
    } catch {
      this.#redis.disconnect();
    }
  }

  /**
   * Take the key's turn across every host, waiting while another holds it:
   * 'cancelled' when the client stopped waiting first, 'too-long' when it
   * was held for longer than any host holds one (the lease).
   */
  async #takeTurn(turn: string, token: string, cancellation: Cancellation, fresh?: { readonly slot: string; readonly spacingMs: number }): Promise<'taken' | 'fresh' | 'cancelled' | 'too-long'> {
    const lease = this.#settings.turnLeaseMs;
    const giveUpAt = performance.now() + lease;
    for (;;) {
      if (cancellation.signal.aborted) return 'cancelled';
      const left = await this.#withDeadline(fresh ? this.#redis.throttleTakeTurn(2, turn, fresh.slot, token, lease, fresh.spacingMs) : this.#redis.throttleTakeTurn(1, turn, token, lease));
      if (left === 0) return 'taken';
      if (left === -1) return 'fresh';
      const wait = Math.min(TURN_POLL_MAX_MS, Math.max(TURN_POLL_MIN_MS, left), giveUpAt - performance.now());
      if (wait <= 0) return 'too-long';
      if (!(await pause(wait, cancellation))) return 'cancelled';
    }
  }

  /** A turn held past any lease is someone else's writing, not a host's: said at most once a minute. */
  #heldTooLong(): void {
    if (performance.now() - this.#toldHeldTooLongAt < HELD_TOO_LONG_LOG_MS) return;
    this.#toldHeldTooLongAt = performance.now();
    this.#log.warn({ event: 'throttle-store', turnLeaseMs: this.#settings.turnLeaseMs }, 'a throttle turn in the store stayed taken longer than any host holds one: something else writes to Redis; that login was counted on this host alone');
  }

  #settle(attempt: CountedAttempt, outcome: SharedOutcome, holdMs: readonly number[]): void {
    if (!this.#usable()) return;
    const { keys, digests, turns } = attempt;
    const steps: SettleStep[] = [];
    const counts: string[] = [];
    const turnKeys: string[] = [];
    let anyTurn = false;
    for (let i = 0; i < keys.length; i += 1) {
      const step: SettleStep = {
        // A success starts a name over; it takes the attempt back from an address, which a guesser with an account of their own could otherwise wipe.
        how: outcome === 'not-counted' || (outcome === 'success' && keys[i]!.table === 'address') ? 'back' : outcome === 'success' ? 'clear' : 'keep',
        holdMs: holdMs[i] ?? 0,
        owned: turns.includes(i),
      };
      if (touchesTurn(step)) anyTurn = true;
      steps.push(step);
      counts.push(countKey(digests[i]!));
    }
    // Turn keys and the token are only read by a step that touches its turn: most settles touch none.
    if (anyTurn) for (const digest of digests) turnKeys.push(turnKey(digest));
    this.#batch.settle(counts, turnKeys, attempt.windowMs, anyTurn ? attempt.token : NO_TOKEN, steps);
  }

  /** The command's reply, or a rejection once the deadline has passed and a turn of the event loop brought none. */
  #withDeadline<T>(command: Promise<T>): Promise<T> {
    const { deadlineMs } = this.#settings;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        // A reply already in the socket is read in this turn's poll phase, before setImmediate runs.
        setImmediate(() => {
          if (settled) return;
          settled = true;
          reject(new Error(`no answer within ${deadlineMs} ms`));
        });
      }, deadlineMs);
      command.then(
        (value) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  /** The digest an id is stored under; a recent name's is remembered (hot users log in again and again). */
  #digest(id: string): string {
    return this.#digests.get(id);
  }

  #usable(): boolean {
    return !this.#closed && this.#redis.status === 'ready' && Date.now() >= this.#skipUntil;
  }

  #failed(error: Error): void {
    if (this.#closed) return;
    this.#skipUntil = Date.now() + RETRY_AFTER_MS;
    if (this.#down) return;
    this.#down = true;
    this.#log.warn({ event: 'throttle-store', reason: error.message, retryAfterMs: RETRY_AFTER_MS }, 'throttle store unreachable or late: failures are counted on this host alone until it answers');
  }

  #answered(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#log.info({ event: 'throttle-store' }, 'throttle store answers again: failures are counted across hosts again');
  }
}

function countKey(digest: string): string {
  return `${KEY_NAMESPACE}count:${digest}`;
}

function turnKey(digest: string): string {
  return `${KEY_NAMESPACE}turn:${digest}`;
}

function freshKey(digest: string): string {
  return `${KEY_NAMESPACE}fresh:${digest}`;
}

/** Wait `ms`, or less if the client stops waiting: true when the time ran out. */
function pause(ms: number, cancellation: Cancellation): Promise<boolean> {
  const signal = cancellation.signal;
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
