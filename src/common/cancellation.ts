/**
 * How a request's handler learns that nobody waits for its answer any more
 * (answer deadline passed, or the client went away).
 *
 * The AbortSignal is made only when something asks for it. Most answers never
 * do: only a slow-lane hash (bcrypt, sha-crypt...) and a throttle delay listen
 * for it, and an AbortController with its signal is a large share of what a
 * login answered from the -c cache allocates (docs/BENCHMARKS.md). An
 * AbortController is a Cancellation too.
 */
export interface Cancellation {
  readonly signal: AbortSignal;
}

export class LazyCancellation implements Cancellation {
  #controller: AbortController | undefined;
  #aborted = false;

  /** Made on first use; already aborted when the request was cancelled before anyone asked. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort();
    }
    return this.#controller.signal;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#controller?.abort();
  }
}
