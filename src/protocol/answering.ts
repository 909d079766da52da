/**
 * One request's answer, the same way on every listener: the handler decides
 * under the answer deadline; a deadline that passes or a client that leaves
 * cancels the work (lookup, queued hash, throttle wait); a handler that
 * throws is a temporary failure; and the password is wiped once the handler
 * is done with it, whatever happened.
 */
import type { Logger } from 'pino';
import { LazyCancellation, type Cancellation } from '../common/cancellation.js';
import { describeError, ErrorCodes } from '../errors.js';
import type { LoginRequest } from './request.js';

/**
 * The connection's say in an answer that now waits on the throttle (a turn
 * to come, a delay to sit out) rather than on work: true moves it into the
 * listener's room for held answers, false when that room is full.
 */
export type Hold = () => boolean;

/** Decides the answer to one request, in the protocol's own terms. */
export type LoginHandler<Answer> = (request: LoginRequest, cancellation: Cancellation, hold: Hold) => Promise<Answer>;

/** How the protocol hears of an answer, each at most once. */
export interface AnswerListener<Answer> {
  /** The handler's answer; undefined when there is none to give (it threw, or nobody waits any more). Not called after onDeadline. */
  answered(answer: Answer | undefined): void;
  /** The deadline passed: the protocol says "temporary failure" its own way. */
  deadlinePassed(): void;
}

export class PendingAnswer<Answer> {
  readonly #cancellation = new LazyCancellation();
  readonly #deadline: NodeJS.Timeout;
  readonly #listener: AnswerListener<Answer>;
  #late = false;

  constructor(request: LoginRequest, handler: LoginHandler<Answer>, hold: Hold, deadlineMs: number, log: Logger, listener: AnswerListener<Answer>) {
    this.#listener = listener;
    this.#deadline = setTimeout(() => {
      log.error({ code: ErrorCodes.AUTH_TIMEOUT, timeoutMs: deadlineMs }, 'no answer before the deadline: a temporary failure');
      this.#late = true;
      this.#cancellation.abort();
      listener.deadlinePassed();
    }, deadlineMs);
    this.#deadline.unref();
    void this.#run(request, handler, hold, log);
  }

  /** Nobody waits for this answer any more (the client left, or cancelled the request): stop the work. */
  cancel(): void {
    clearTimeout(this.#deadline);
    this.#cancellation.abort();
  }

  async #run(request: LoginRequest, handler: LoginHandler<Answer>, hold: Hold, log: Logger): Promise<void> {
    let answer: Answer | undefined;
    try {
      answer = await handler(request, this.#cancellation, hold);
    } catch (error) {
      // A handler must not throw; if one does, the only safe answer is "try again later".
      log.error({ code: ErrorCodes.INTERNAL, error: describeError(error) }, 'request handler failed: a temporary failure');
    } finally {
      clearTimeout(this.#deadline);
      request.password.wipe();
    }
    if (!this.#late) this.#listener.answered(this.#cancellation.aborted ? undefined : answer);
  }
}
