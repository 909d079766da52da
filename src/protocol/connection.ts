/**
 * One mux connection: read one request, answer it once, close. Every phase
 * has an absolute deadline, so a silent, dribbling or non-reading peer is
 * dropped instead of pinning the daemon.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { RequestDecoder, type AuthRequest } from './codec.js';
import { encodeReply } from './codec.js';
import { NO_ANSWER, REPLY_FIELD_TOO_LONG, rejectEmptyCredentials, type Reply } from './replies.js';
import { describeError, ErrorCodes } from '../errors.js';
import { LazyCancellation, type Cancellation } from '../common/cancellation.js';

/** Decides the answer to one well-formed request. Cancelled when the answer deadline passes or the client goes away. */
export type RequestHandler = (request: AuthRequest, cancellation: Cancellation) => Promise<Reply>;

export interface ConnectionTimeouts {
  /** From accept until the whole request has arrived. Absolute: trickling bytes do not extend it. */
  readonly readTimeoutMs: number;
  /** From a complete request until the handler answers; past it the client gets a temporary failure. */
  readonly answerTimeoutMs: number;
  /** From sending the reply until the peer has taken it. */
  readonly replyTimeoutMs: number;
}

type Phase = 'reading' | 'answering' | 'replying' | 'closed';

export class MuxConnection {
  readonly #socket: Socket;
  readonly #handler: RequestHandler;
  readonly #timeouts: ConnectionTimeouts;
  readonly #log: Logger;
  readonly #decoder = new RequestDecoder();
  readonly #cancellation = new LazyCancellation();
  /** performance.now() at accept. */
  readonly acceptedAt = performance.now();
  #phase: Phase = 'reading';
  #bytesReceived = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, handler: RequestHandler, timeouts: ConnectionTimeouts, log: Logger) {
    this.#socket = socket;
    this.#handler = handler;
    this.#timeouts = timeouts;
    this.#log = log;

    this.#arm(timeouts.readTimeoutMs, () => {
      this.#log.debug({ code: ErrorCodes.READ_TIMEOUT, bytes: this.#bytesReceived }, 'request not complete before the read deadline; dropped');
      this.#socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onPeerEnd());
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.#log.debug({ error: { code: error.code, message: error.message } }, 'connection error');
    });
    socket.on('close', () => this.#onClose());
  }

  /** A connection that has received nothing carries no work, so shutdown may drop it at once. */
  get isIdle(): boolean {
    return this.#phase === 'reading' && this.#bytesReceived === 0;
  }

  /** Still waiting for (the rest of) its request: nothing of it is being worked on yet. */
  get isReading(): boolean {
    return this.#phase === 'reading';
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.#phase !== 'reading') return;
    this.#bytesReceived += chunk.length;
    const result = this.#decoder.push(chunk);
    if (result.status === 'need-more') return;

    this.#socket.pause();
    if (result.status === 'field-too-long') {
      this.#log.warn({ code: ErrorCodes.FIELD_TOO_LONG, field: result.field, length: result.length }, 'request field too long');
      this.#send(REPLY_FIELD_TOO_LONG);
      return;
    }
    const rejection = rejectEmptyCredentials(result.request);
    if (rejection) {
      this.#log.warn({ code: rejection.code }, 'request refused before authentication');
      result.request.password.wipe();
      this.#send(rejection.reply);
      return;
    }
    void this.#answer(result.request);
  }

  async #answer(request: AuthRequest): Promise<void> {
    this.#phase = 'answering';
    this.#arm(this.#timeouts.answerTimeoutMs, () => {
      this.#log.error({ code: ErrorCodes.AUTH_TIMEOUT, timeoutMs: this.#timeouts.answerTimeoutMs }, 'no answer before the deadline; closing without a reply (temporary failure)');
      this.#cancellation.abort();
      this.#send(NO_ANSWER);
    });
    let reply: Reply;
    try {
      reply = await this.#handler(request, this.#cancellation);
    } catch (error) {
      // A handler must not throw; if one does, the only safe answer is "try again later".
      this.#log.error({ code: ErrorCodes.INTERNAL, error: describeError(error) }, 'request handler failed; closing without a reply');
      reply = NO_ANSWER;
    } finally {
      request.password.wipe();
    }
    if (this.#phase === 'answering') this.#send(reply);
  }

  #send(reply: Reply): void {
    if (this.#phase === 'replying' || this.#phase === 'closed') return;
    this.#phase = 'replying';
    if (reply.kind === 'no-answer') {
      this.#socket.destroy();
      return;
    }
    this.#arm(this.#timeouts.replyTimeoutMs, () => this.#socket.destroy());
    // Once the reply is in the kernel it reaches the peer even after we close;
    // closing right away means a peer that never hangs up holds nothing of ours.
    this.#socket.end(encodeReply(reply.text), () => this.#socket.destroy());
  }

  #onPeerEnd(): void {
    if (this.#phase === 'reading') {
      this.#log.debug({ code: ErrorCodes.TRUNCATED_REQUEST, bytes: this.#bytesReceived }, 'peer closed before the request was complete; no reply');
      this.#socket.destroy();
    }
    // A peer that half-closes after a complete request still gets its answer.
  }

  #onClose(): void {
    // Only work still in progress needs telling; aborting a signal costs a DOMException, so skip it otherwise.
    if (this.#phase === 'answering') this.#cancellation.abort();
    this.#phase = 'closed';
    if (this.#timer) clearTimeout(this.#timer);
  }

  #arm(ms: number, onExpiry: () => void): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(onExpiry, ms);
    this.#timer.unref();
  }
}
