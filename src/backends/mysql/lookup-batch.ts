/**
 * Lookups of logins that arrive together, asked in one statement.
 *
 * With the default cache, a repeat login still reads its row (the cache is
 * never stale), and that read is most of what such a login costs: the
 * statement's framing in mysql2, the round trip, the server's execution. Most
 * of that is paid per statement, not per name, so names asked together cost
 * little more than one, on both sides.
 *
 * One statement is out at a time, normally: the lookups that arrive while it
 * is out go together when it comes back. A statement still out after
 * `stallAfterMs` stops holding the others back, so a slow query or a host
 * that stopped answering delays the logins in that one statement, never the
 * ones after it: they go out on other connections, up to `maxInFlight`
 * statements in all.
 *
 * A local database answers faster than logins arrive, so "while it is out"
 * alone gathers one or two names, and a busy daemon spends its one thread on
 * statements instead of logins. So a statement also waits while lookups keep
 * arriving turn after turn of the event loop: it goes after a turn that
 * brought none, once `maxBatch` names wait, or once the oldest has waited
 * `gatherMs`. An idle daemon pays one quiet turn (microseconds); a busy one,
 * whose every turn brings new logins, asks for many names at once and spends
 * its thread on logins. It waits on turns, not on a timer, so a login on the
 * miss path (busy hashing, not busy on its thread) never waits for a clock.
 * A turn that brought no lookup but was busy with other work (`busyTurnMs`)
 * does not end the wait either: with -c, repeat logins need no lookup, and
 * the wrong passwords' lookups arrive a few turns apart; without this each
 * would be a statement of its own.
 *
 * A statement that fails for what it says (an SQL error, not a database
 * that went away) fails only its own names: the names of a batch are asked
 * again one by one, so one name the server cannot compare (a name the user
 * column's character set cannot hold) never fails the logins beside it.
 *
 * While the database does not answer, every statement stalls and lookups
 * pile up: `maxQueue` bounds how many wait (more are refused at once), and a
 * lookup that has waited `maxWaitMs` when its turn comes is refused instead
 * of asked, so a database that comes back is not flooded with the names of
 * clients that left long ago. Both refusals are the owner's errors (to the
 * login, a busy database: a temporary failure). Each statement's own
 * deadline (hosts.ts) bounds how long a turn can take to come.
 */

/** Runs one statement for these names (distinct, at most maxBatch) and returns each name's rows, in the same order. */
export type BatchRun = (names: readonly string[]) => Promise<unknown[][][]>;

export interface LookupBatchOptions {
  /** Statements out at once at most, stalled ones included (the connection pool's size). */
  readonly maxInFlight: number;
  /** Names in one statement at most. */
  readonly maxBatch: number;
  /** A statement out this long no longer keeps the next one waiting. */
  readonly stallAfterMs: number;
  /** While lookups keep arriving, the oldest waits at most this long for more. */
  readonly gatherMs: number;
  /**
   * A turn of the event loop that took at least this long did other work
   * (logins answered without a lookup, hashes finishing): the loop is busy,
   * more lookups are on their way, and a turn that brought none does not end
   * the gathering. Infinity: only turns that brought lookups count.
   */
  readonly busyTurnMs: number;
  /** Lookups waiting at most; the next one is refused with queueFull(). */
  readonly maxQueue: number;
  /** A lookup that has waited this long when its turn comes is refused with waitedTooLong(). */
  readonly maxWaitMs: number;
  readonly queueFull: () => Error;
  readonly waitedTooLong: () => Error;
  /** Whether a batch that failed so should be asked again name by name: the statement's fault, not the database's. */
  readonly retrySingly: (error: unknown) => boolean;
}

interface Waiting {
  readonly name: string;
  /** performance.now() when it began to wait. */
  readonly since: number;
  readonly resolve: (rows: unknown[][]) => void;
  readonly reject: (error: unknown) => void;
}

export class LookupBatcher {
  readonly #run: BatchRun;
  readonly #options: LookupBatchOptions;
  #queue: Waiting[] = [];
  /** Statements out, stalled ones included. */
  #inFlight = 0;
  /** Statements out and not stalled: while there is one, new lookups gather. */
  #pacing = 0;
  /** A look at the queue is due at the end of the event loop's turn. */
  #turnEndDue = false;
  /** Lookups arrived since the last look at the queue. */
  #arrived = false;
  /** performance.now() when the look at the end of the turn was asked for. */
  #turnStartedAt = 0;

  constructor(run: BatchRun, options: LookupBatchOptions) {
    this.#run = run;
    this.#options = options;
  }

  /** The rows for this name; rejects with the statement's error, which every name in it shares. */
  lookup(name: string): Promise<unknown[][]> {
    if (this.#queue.length >= this.#options.maxQueue) return Promise.reject(this.#options.queueFull());
    return new Promise((resolve, reject) => {
      this.#queue.push({ name, since: performance.now(), resolve, reject });
      this.#arrived = true;
      // Otherwise the statement out (or its stall timer) sends when it is done.
      if (this.#mayAsk()) this.#atTurnEnd();
    });
  }

  #atTurnEnd(): void {
    if (this.#turnEndDue) return;
    this.#turnEndDue = true;
    this.#turnStartedAt = performance.now();
    setImmediate(() => {
      this.#turnEndDue = false;
      this.#send(performance.now() - this.#turnStartedAt >= this.#options.busyTurnMs);
    });
  }

  /** Statements out now, stalled ones included (for tests and benchmarks). */
  get inFlight(): number {
    return this.#inFlight;
  }

  #mayAsk(): boolean {
    return this.#pacing === 0 && this.#inFlight < this.#options.maxInFlight;
  }

  /** `busyTurn`: the turn that just ended was a busy one (see busyTurnMs). */
  #send(busyTurn = false): void {
    if (this.#queue.length === 0 || !this.#mayAsk()) return;
    this.#dropStale();
    if (this.#queue.length === 0) return;
    const { maxBatch, gatherMs } = this.#options;
    const arriving = this.#arrived;
    this.#arrived = false;
    // Lookups still arriving turn after turn, or a loop busy with logins that will bring more: look again at the end of the next turn.
    if ((arriving || busyTurn) && this.#queue.length < maxBatch && performance.now() - this.#queue[0]!.since < gatherMs) {
      this.#atTurnEnd();
      return;
    }
    const batch = this.#queue.length <= maxBatch ? this.#queue : this.#queue.slice(0, maxBatch);
    this.#queue = batch === this.#queue ? [] : this.#queue.slice(batch.length);
    void this.#ask(batch);
  }

  /** Refuse, oldest first, the lookups that waited too long for their turn. */
  #dropStale(): void {
    const oldest = performance.now() - this.#options.maxWaitMs;
    let stale = 0;
    while (stale < this.#queue.length && this.#queue[stale]!.since <= oldest) stale += 1;
    if (stale === 0) return;
    for (const waiting of this.#queue.splice(0, stale)) waiting.reject(this.#options.waitedTooLong());
  }

  async #ask(batch: readonly Waiting[]): Promise<void> {
    this.#inFlight += 1;
    this.#pacing += 1;
    let pacing = true;
    const stall = setTimeout(() => {
      pacing = false;
      this.#pacing -= 1;
      this.#send();
    }, this.#options.stallAfterMs);
    stall.unref();
    // The same name twice (a client retrying, two services) is asked once.
    const at = new Map<string, number>();
    for (const { name } of batch) if (!at.has(name)) at.set(name, at.size);
    const names = [...at.keys()];
    try {
      const rows = await this.#run(names);
      for (const waiting of batch) waiting.resolve(rows[at.get(waiting.name)!]!);
    } catch (error) {
      if (names.length > 1 && this.#options.retrySingly(error)) await this.#askSingly(batch, names, at);
      else for (const waiting of batch) waiting.reject(error);
    } finally {
      clearTimeout(stall);
      this.#inFlight -= 1;
      if (pacing) this.#pacing -= 1;
      // Whatever gathered while this statement was out goes now, together.
      this.#send();
    }
  }

  /** Each name on its own statement, one after the other (the batch's connection share, not the pool's): each login gets its own name's answer or error. */
  async #askSingly(batch: readonly Waiting[], names: readonly string[], at: ReadonlyMap<string, number>): Promise<void> {
    const answers: Array<{ readonly rows: unknown[][] } | { readonly error: unknown }> = [];
    for (const name of names) {
      try {
        answers.push({ rows: (await this.#run([name]))[0]! });
      } catch (error) {
        answers.push({ error });
      }
    }
    for (const waiting of batch) {
      const answer = answers[at.get(waiting.name)!]!;
      if ('rows' in answer) waiting.resolve(answer.rows);
      else waiting.reject(answer.error);
    }
  }
}
