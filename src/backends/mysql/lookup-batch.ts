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
 * is out go together when it comes back. An idle daemon asks at once (at the
 * end of the event loop's current turn, with whatever else that turn
 * produced). A statement still out after `stallAfterMs` stops holding the
 * others back, so a slow query or a host that stopped answering delays the
 * logins in that one statement, never the ones after it: they go out on other
 * connections, up to `maxInFlight` statements in all. How long a lookup may
 * wait is bounded by that and by each statement's own deadline (hosts.ts);
 * how many wait is bounded by the connections the listeners allow.
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
}

interface Waiting {
  readonly name: string;
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
  #scheduled = false;

  constructor(run: BatchRun, options: LookupBatchOptions) {
    this.#run = run;
    this.#options = options;
  }

  /** The rows for this name; rejects with the statement's error, which every name in it shares. */
  lookup(name: string): Promise<unknown[][]> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ name, resolve, reject });
      if (this.#scheduled || !this.#mayAsk()) return;
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.#send();
      });
    });
  }

  /** Statements out now, stalled ones included (for tests and benchmarks). */
  get inFlight(): number {
    return this.#inFlight;
  }

  #mayAsk(): boolean {
    return this.#pacing === 0 && this.#inFlight < this.#options.maxInFlight;
  }

  #send(): void {
    if (this.#queue.length === 0 || !this.#mayAsk()) return;
    const { maxBatch } = this.#options;
    const batch = this.#queue.length <= maxBatch ? this.#queue : this.#queue.slice(0, maxBatch);
    this.#queue = batch === this.#queue ? [] : this.#queue.slice(batch.length);
    void this.#ask(batch);
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
    try {
      const rows = await this.#run([...at.keys()]);
      for (const waiting of batch) waiting.resolve(rows[at.get(waiting.name)!]!);
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    } finally {
      clearTimeout(stall);
      this.#inFlight -= 1;
      if (pacing) this.#pacing -= 1;
      // Whatever gathered while this statement was out goes now, together.
      this.#send();
    }
  }
}
