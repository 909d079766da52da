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
  /** Requests waiting per key at most; beyond it a request is refused at once. */
  readonly maxWaitingPerKey: number;
  readonly clock?: GateClock;
}

export type Admission = { readonly admitted: true; readonly pass: GatePass } | { readonly admitted: false; readonly why: GateRefusal };

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

interface KeyState {
  inFlight: number;
  /** Clock time before which no new evaluation starts. */
  busyUntil: number;
  readonly waiting: Waiter[];
  timer: NodeJS.Timeout | undefined;
}

interface Waiter {
  readonly admit: () => void;
}

const SYSTEM_CLOCK: GateClock = { now: () => performance.now() };

export class GuessGate<Key extends GateKey> {
  readonly #capacity: (key: Key) => number;
  readonly #maxWaiting: number;
  readonly #clock: GateClock;
  /** Only keys with something in flight, waiting or a hold pending: the rest cost nothing. */
  readonly #states = new Map<string, KeyState>();

  constructor(settings: GateSettings<Key>) {
    this.#capacity = settings.capacity;
    this.#maxWaiting = settings.maxWaitingPerKey;
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
   * on the throttle; false (no room to hold it) refuses instead.
   */
  admit(keys: readonly Key[], cancellation: Cancellation, hold: Hold): Admission | Promise<Admission> {
    const taken: Key[] = [];
    for (let i = 0; i < keys.length; i += 1) {
      if (!this.#tryTake(keys[i]!)) return this.#admitWaiting(keys, i, taken, cancellation, hold);
      taken.push(keys[i]!);
    }
    return { admitted: true, pass: this.#pass(taken) };
  }

  async #admitWaiting(keys: readonly Key[], from: number, taken: Key[], cancellation: Cancellation, hold: Hold): Promise<Admission> {
    let waited = false;
    for (let i = from; i < keys.length; i += 1) {
      const key = keys[i]!;
      if (this.#tryTake(key)) {
        taken.push(key);
        continue;
      }
      const refusal = this.#state(key).waiting.length >= this.#maxWaiting ? 'queue-full' : !waited && !hold() ? 'no-room' : undefined;
      if (refusal) {
        this.#releaseAll(taken);
        return { admitted: false, why: refusal };
      }
      waited = true;
      if (!(await this.#wait(key, cancellation))) {
        this.#releaseAll(taken);
        return { admitted: false, why: 'cancelled' };
      }
      taken.push(key);
    }
    return { admitted: true, pass: this.#pass(taken) };
  }

  #pass(keys: readonly Key[]): GatePass {
    let released = false;
    return {
      release: (holdMs) => {
        if (released) return;
        released = true;
        keys.forEach((key, i) => this.#release(key, holdMs?.[i] ?? 0));
      },
    };
  }

  #releaseAll(keys: readonly Key[]): void {
    for (const key of keys) this.#release(key, 0);
  }

  #state(key: Key): KeyState {
    let state = this.#states.get(key.id);
    if (!state) {
      state = { inFlight: 0, busyUntil: 0, waiting: [], timer: undefined };
      this.#states.set(key.id, state);
    }
    return state;
  }

  #free(key: Key, state: KeyState): boolean {
    return state.inFlight < Math.max(1, this.#capacity(key)) && state.busyUntil <= this.#clock.now();
  }

  #tryTake(key: Key): boolean {
    const existing = this.#states.get(key.id);
    // Whoever queued first goes first.
    if (existing && (existing.waiting.length > 0 || !this.#free(key, existing))) return false;
    this.#state(key).inFlight += 1;
    return true;
  }

  #wait(key: Key, cancellation: Cancellation): Promise<boolean> {
    const state = this.#state(key);
    const signal = cancellation.signal;
    if (signal.aborted) {
      this.#settle(key, state);
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      const onAbort = (): void => {
        const at = state.waiting.indexOf(waiter);
        if (at >= 0) state.waiting.splice(at, 1);
        resolve(false);
        this.#settle(key, state);
      };
      const waiter: Waiter = {
        admit: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(true);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      state.waiting.push(waiter);
      this.#settle(key, state);
    });
  }

  #release(key: Key, holdMs: number): void {
    const state = this.#states.get(key.id);
    if (!state) return;
    state.inFlight -= 1;
    if (holdMs > 0) state.busyUntil = Math.max(state.busyUntil, this.#clock.now() + holdMs);
    this.#settle(key, state);
  }

  /** Admit whoever can go now; wake up when a hold ends; forget the key when nothing is left of it. */
  #settle(key: Key, state: KeyState): void {
    while (state.waiting.length > 0 && this.#free(key, state)) {
      state.inFlight += 1;
      state.waiting.shift()!.admit();
    }
    const holdLeft = state.busyUntil - this.#clock.now();
    if (state.inFlight === 0 && state.waiting.length === 0 && holdLeft <= 0) {
      if (state.timer) clearTimeout(state.timer);
      this.#states.delete(key.id);
      return;
    }
    if (holdLeft > 0 && state.timer === undefined) {
      state.timer = setTimeout(() => {
        state.timer = undefined;
        this.#settle(key, state);
      }, Math.ceil(holdLeft));
      state.timer.unref();
    }
  }
}
