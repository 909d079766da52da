/**
 * The turnstile in front of password evaluation: how many checks of one
 * throttle key may run at once, and when the next may start. Delaying answers
 * alone does not bound guessing: a guesser who fires many guesses at once
 * would have them all evaluated together and learn the right one at once. So
 * each key admits at most `capacity(key)` evaluations at a time (the
 * throttle makes that one once the key is throttled), a key that earned a
 * delay admits nothing more until the delay is over (whether or not its
 * client still waits), and the rest wait in a short FIFO queue per key.
 * Overflow, and a client that stops waiting, are refusals the caller turns
 * into a temporary failure, never a "no".
 *
 * A second, narrow lane per key is kept for logins from a fresh address
 * (one with no failures: the owner on a new network, say), so that guessers
 * queued on a name do not keep its owner out: a fresh request that cannot go
 * by the usual lane goes by this one, which ignores the usual lane's queue
 * and holds and admits one evaluation at a time, at most one per
 * `freshSpacingMs`, and at most one waiting request per address. A request
 * whose address failed while it waited is fresh no more, and moves to the
 * usual queue. So an address gets one evaluation by this lane, and the
 * spacing bounds what many fresh addresses can add to a name's guessing
 * (docs/security.md states the figure).
 *
 * A request takes its keys in the order given; every caller gives them in
 * the same order (address before name), so two requests never wait on each
 * other in a cycle.
 */
import type { Cancellation } from '../common/cancellation.js';
import type { Hold } from '../protocol/answering.js';

export interface GateKey {
  /** Unique across every table the gate serves. */
  readonly id: string;
}

export interface GateClock {
  now(): number;
}

export interface GateSettings<Key extends GateKey> {
  /** Evaluations of this key that may run at once now: at least 1. */
  readonly capacity: (key: Key) => number;
  /** Requests waiting per key and lane at most; beyond it a request is refused at once. */
  readonly maxWaitingPerKey: number;
  /** The fresh lane admits one evaluation per key at most this often. */
  readonly freshSpacingMs: number;
  readonly clock?: GateClock;
}

export type Admission = { readonly admitted: true; readonly pass: GatePass } | { readonly admitted: false; readonly why: GateRefusal };

/** A request's claim to a key's fresh lane: which key, from which address, and whether it is still fresh (its address has no failures). */
export interface FreshClaim<Key> {
  readonly key: Key;
  readonly source: string;
  readonly isFresh: () => boolean;
}

/**
 *   queue-full   too many requests already wait on one of the keys
 *   no-room      the caller could not wait (no room to hold its answer)
 *   cancelled    the client stopped waiting (hung up, or its deadline passed)
 */
export type GateRefusal = 'queue-full' | 'no-room' | 'cancelled';

/** An admitted request's hold on its keys. Released exactly once. */
export interface GatePass {
  /** `holdMs[i]` keeps the i-th key closed to newcomers that much longer (the delay the outcome earned). */
  release(holdMs?: readonly number[]): void;
}

type Lane = 'usual' | 'fresh';

interface KeyState {
  /** The usual lane: evaluations in flight, and the clock time before which no new one starts. */
  inFlight: number;
  busyUntil: number;
  readonly waiting: Waiter[];
  /** The fresh lane: one at a time, one per spacing. */
  freshInFlight: number;
  freshNextStart: number;
  readonly freshWaiting: Waiter[];
  /** The addresses with a request waiting in the fresh lane: one each. Made when the first one waits (most keys never see one). */
  freshSources: Set<string> | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Clock time the timer fires at. */
  timerAt: number;
}

interface Waiter {
  readonly admit: (lane: Lane) => void;
  /** Fresh-lane waiters only. */
  readonly fresh?: FreshClaim<unknown>;
}

interface Taken<Key> {
  readonly key: Key;
  readonly lane: Lane;
}

const SYSTEM_CLOCK: GateClock = { now: () => performance.now() };

export class GuessGate<Key extends GateKey> {
  readonly #capacity: (key: Key) => number;
  readonly #maxWaiting: number;
  readonly #freshSpacingMs: number;
  readonly #clock: GateClock;
  /** Only keys with something in flight, waiting or a hold pending: the rest cost nothing. */
  readonly #states = new Map<string, KeyState>();

  constructor(settings: GateSettings<Key>) {
    this.#capacity = settings.capacity;
    this.#maxWaiting = settings.maxWaitingPerKey;
    this.#freshSpacingMs = settings.freshSpacingMs;
    this.#clock = settings.clock ?? SYSTEM_CLOCK;
  }

  /** Keys with state now (in flight, waiting, or held): bounded by the requests open. */
  get activeKeys(): number {
    return this.#states.size;
  }

  /**
   * Take every key, waiting in each key's queue as needed. Returns a pass
   * synchronously when nothing had to wait (the common case costs no promise).
   * `hold` is called once, before the first wait, since the answer now waits
   * on the throttle; false (no room to hold it) refuses instead. `fresh`, when
   * given, is this request's claim to a key's fresh lane.
   */
  admit(keys: readonly Key[], cancellation: Cancellation, hold: Hold, fresh?: FreshClaim<Key>): Admission | Promise<Admission> {
    const taken: Array<Taken<Key>> = [];
    for (let i = 0; i < keys.length; i += 1) {
      const lane = this.#tryTake(keys[i]!, keys[i] === fresh?.key ? fresh : undefined);
      if (!lane) return this.#admitWaiting(keys, i, taken, cancellation, hold, fresh);
      taken.push({ key: keys[i]!, lane });
    }
    return { admitted: true, pass: this.#pass(taken) };
  }

  async #admitWaiting(keys: readonly Key[], from: number, taken: Array<Taken<Key>>, cancellation: Cancellation, hold: Hold, fresh: FreshClaim<Key> | undefined): Promise<Admission> {
    let waited = false;
    for (let i = from; i < keys.length; i += 1) {
      const key = keys[i]!;
      const claim = key === fresh?.key ? fresh : undefined;
      const takenNow = this.#tryTake(key, claim);
      if (takenNow) {
        taken.push({ key, lane: takenNow });
        continue;
      }
      // A fresh request waits in the fresh lane, the one that moves first for it: one per address.
      const state = this.#state(key);
      const freshWait = claim !== undefined && claim.isFresh() && !state.freshSources?.has(claim.source);
      const queue = freshWait ? state.freshWaiting : state.waiting;
      const refusal = queue.length >= this.#maxWaiting ? 'queue-full' : !waited && !hold() ? 'no-room' : undefined;
      if (refusal) {
        this.#releaseAll(taken);
        return { admitted: false, why: refusal };
      }
      waited = true;
      const lane = await this.#wait(key, freshWait ? claim : undefined, cancellation);
      if (!lane) {
        this.#releaseAll(taken);
        return { admitted: false, why: 'cancelled' };
      }
      taken.push({ key, lane });
    }
    return { admitted: true, pass: this.#pass(taken) };
  }

  #pass(taken: ReadonlyArray<Taken<Key>>): GatePass {
    let released = false;
    return {
      release: (holdMs) => {
        if (released) return;
        released = true;
        taken.forEach(({ key, lane }, i) => this.#release(key, lane, holdMs?.[i] ?? 0));
      },
    };
  }

  #releaseAll(taken: ReadonlyArray<Taken<Key>>): void {
    for (const { key, lane } of taken) this.#release(key, lane, 0);
  }

  #state(key: Key): KeyState {
    let state = this.#states.get(key.id);
    if (!state) {
      state = { inFlight: 0, busyUntil: 0, waiting: [], freshInFlight: 0, freshNextStart: 0, freshWaiting: [], freshSources: undefined, timer: undefined, timerAt: 0 };
      this.#states.set(key.id, state);
    }
    return state;
  }

  #free(key: Key, state: KeyState, lane: Lane, now: number): boolean {
    if (lane === 'fresh') return state.freshInFlight === 0 && state.freshNextStart <= now;
    return state.inFlight < Math.max(1, this.#capacity(key)) && state.busyUntil <= now;
  }

  #start(state: KeyState, lane: Lane, now: number): void {
    if (lane === 'usual') {
      state.inFlight += 1;
      return;
    }
    state.freshInFlight += 1;
    state.freshNextStart = now + this.#freshSpacingMs;
  }

  /** The lane the key was taken by at once, if it could be: the usual one first, the fresh one for a fresh request. */
  #tryTake(key: Key, fresh: FreshClaim<Key> | undefined): Lane | undefined {
    const existing = this.#states.get(key.id);
    const now = this.#clock.now();
    // Whoever queued first goes first.
    if (!existing || (existing.waiting.length === 0 && this.#free(key, existing, 'usual', now))) {
      this.#start(this.#state(key), 'usual', now);
      return 'usual';
    }
    if (fresh && existing.freshWaiting.length === 0 && this.#free(key, existing, 'fresh', now) && fresh.isFresh()) {
      this.#start(existing, 'fresh', now);
      return 'fresh';
    }
    return undefined;
  }

  /** Wait in the fresh lane (with a claim) or the usual one: the lane the request was admitted by, or undefined when it stopped waiting. */
  #wait(key: Key, fresh: FreshClaim<Key> | undefined, cancellation: Cancellation): Promise<Lane | undefined> {
    const state = this.#state(key);
    const signal = cancellation.signal;
    if (signal.aborted) {
      this.#settle(key, state);
      return Promise.resolve(undefined);
    }
    return new Promise((resolve) => {
      const onAbort = (): void => {
        const fromFresh = state.freshWaiting.indexOf(waiter);
        if (fromFresh >= 0) {
          state.freshWaiting.splice(fromFresh, 1);
          state.freshSources?.delete(fresh!.source);
        }
        const fromUsual = state.waiting.indexOf(waiter);
        if (fromUsual >= 0) state.waiting.splice(fromUsual, 1);
        resolve(undefined);
        this.#settle(key, state);
      };
      const waiter: Waiter = {
        admit: (lane) => {
          signal.removeEventListener('abort', onAbort);
          resolve(lane);
        },
        ...(fresh ? { fresh } : {}),
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (fresh) {
        (state.freshSources ??= new Set()).add(fresh.source);
        state.freshWaiting.push(waiter);
      } else {
        state.waiting.push(waiter);
      }
      this.#settle(key, state);
    });
  }

  #release(key: Key, lane: Lane, holdMs: number): void {
    const state = this.#states.get(key.id);
    if (!state) return;
    if (lane === 'fresh') state.freshInFlight -= 1;
    else state.inFlight -= 1;
    // The delay a failure earned closes the key's usual lane, whichever lane the failure came by.
    if (holdMs > 0) state.busyUntil = Math.max(state.busyUntil, this.#clock.now() + holdMs);
    this.#settle(key, state);
  }

  /**
   * Admit whoever can go now in either lane; wake up when a hold or a spacing
   * ends; forget the key when nothing is left of it. Every decision here reads
   * the clock once: a hold that ends between two readings would be "not over"
   * to the admission and "over" to the wake-up, and the queue would wait with
   * no timer until some client gave up (a timer can fire a little before the
   * hold's end by this clock, so that moment does come).
   */
  #settle(key: Key, state: KeyState): void {
    const now = this.#clock.now();
    while (state.freshWaiting.length > 0 && this.#free(key, state, 'fresh', now)) {
      const waiter = state.freshWaiting.shift()!;
      state.freshSources?.delete(waiter.fresh!.source);
      // Its address failed while it waited: fresh no more, it waits with the others.
      if (!waiter.fresh!.isFresh()) {
        state.waiting.push(waiter);
        continue;
      }
      this.#start(state, 'fresh', now);
      waiter.admit('fresh');
    }
    while (state.waiting.length > 0 && this.#free(key, state, 'usual', now)) {
      this.#start(state, 'usual', now);
      state.waiting.shift()!.admit('usual');
    }
    const holdLeft = state.busyUntil - now;
    const spacingLeft = state.freshNextStart - now;
    const idle = state.inFlight === 0 && state.freshInFlight === 0 && state.waiting.length === 0 && state.freshWaiting.length === 0;
    if (idle && holdLeft <= 0 && spacingLeft <= 0) {
      if (state.timer) clearTimeout(state.timer);
      this.#states.delete(key.id);
      return;
    }
    // Wake at the next moment something may change: a hold's end, or the fresh lane's next start.
    const next = holdLeft > 0 && spacingLeft > 0 ? Math.min(holdLeft, spacingLeft) : holdLeft > 0 ? holdLeft : spacingLeft;
    if (!(next > 0) || !Number.isFinite(next)) return;
    if (state.timer !== undefined && state.timerAt <= now + next) return;
    if (state.timer !== undefined) clearTimeout(state.timer);
    state.timerAt = now + next;
    state.timer = setTimeout(() => {
      state.timer = undefined;
      this.#settle(key, state);
    }, Math.ceil(next));
    state.timer.unref();
  }
}
