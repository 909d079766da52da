/**
 * One mux connection: read one request, answer it once, close. Every phase
 * has an absolute deadline, so a silent, dribbling or non-reading peer is
 * dropped instead of pinning the daemon.
 *
 * A client that hangs up while its answer is being worked on cancels the
 * work (lookup, queued hash, throttle wait). The connection keeps reading
 * after the request to notice the end of the stream, and an end of stream is
 * either a client that hung up or one that only shut down its sending side
 * (socat, nc) and still wants the answer. Writing tells the two apart: the
 * reply's first byte is known in advance (the high byte of its 16-bit
 * length, 0 for every reply this daemon sends), so that byte is written at
 * once; to a client that hung up the write fails (EPIPE), and the work is
 * cancelled; a half-closed client simply receives its reply in two pieces.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { RequestDecoder, type AuthRequest } from './codec.js';
import { encodeReply } from './codec.js';
import { NO_ANSWER, REPLY_FIELD_TOO_LONG, rejectEmptyCredentials, type Reply } from './replies.js';
import { describeError, ErrorCodes } from '../errors.js';
import { LazyCancellation, type Cancellation } from '../common/cancellation.js';

/** Decides the answer to one well-formed request. Cancelled when the answer deadline passes or the client goes away. */
export type RequestHandler = (request: AuthRequest, cancellation: Cancellation, park: () => boolean) => Promise<Reply>;

/** What the listener offers a connection whose answer waits on a policy rather than on work. */
export interface WaitingRoom {
  /** Move the connection out of the connection cap into the bounded room for held answers; false when that room is full. */
  enter(connection: MuxConnection): boolean;
}

/**
 * Bytes after the request are read (to see the end of the stream) and
 * ignored, as saslauthd ignores them; past this many while the answer is
 * being worked on, the peer is only making work, and is dropped.
 */
const MAX_BYTES_AFTER_REQUEST = 64 * 1024;

export interface ConnectionTimeouts {
  /** From accept until the whole request has arrived. Absolute: trickling bytes do not extend it. */
  readonly readTimeoutMs: number;
  /** From a complete request until the handler answers; past it the client gets a temporary failure. */
  readonly answerTimeoutMs: number;
  /** From sending the reply until the peer has taken it. */
  readonly replyTimeoutMs: number;
}

type Phase = 'reading' | 'answering' | 'replying' | 'closed';

/** The high byte of every reply's length (replies are far shorter than 256 bytes: codec.ts). */
const REPLY_FIRST_BYTE = Buffer.from([0]);

export class MuxConnection {
  readonly #socket: Socket;
  readonly #handler: RequestHandler;
  readonly #timeouts: ConnectionTimeouts;
  readonly #log: Logger;
  readonly #room: WaitingRoom | undefined;
  readonly #decoder = new RequestDecoder();
  readonly #cancellation = new LazyCancellation();
  /** performance.now() at accept. */
  readonly acceptedAt = performance.now();
  #phase: Phase = 'reading';
  #bytesReceived = 0;
  #bytesAfterRequest = 0;
  /** The reply's first byte has been written already (to find out whether the peer is still there). */
  #probed = false;
  #parked = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, handler: RequestHandler, timeouts: ConnectionTimeouts, log: Logger, room?: WaitingRoom) {
    this.#socket = socket;
    this.#handler = handler;
    this.#timeouts = timeouts;
    this.#log = log;
    this.#room = room;

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

  /** Its answer waits on the throttle, in the waiting room rather than against the connection cap. */
  get isParked(): boolean {
    return this.#parked;
  }

  /** Still waiting for (the rest of) its request: nothing of it is being worked on yet. */
  get isReading(): boolean {
    return this.#phase === 'reading';
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.#phase !== 'reading') {
      // Read on only to see the end of the stream; nothing after the request means anything.
      this.#bytesAfterRequest += chunk.length;
      if (this.#bytesAfterRequest > MAX_BYTES_AFTER_REQUEST && this.#phase === 'answering') {
        this.#log.debug({ code: ErrorCodes.ABANDONED, bytes: this.#bytesAfterRequest }, 'client kept sending after its request; closing without a reply');
        this.#socket.destroy();
      }
      return;
    }
    this.#bytesReceived += chunk.length;
    const result = this.#decoder.push(chunk);
    if (result.status === 'need-more') return;

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
      reply = await this.#handler(request, this.#cancellation, this.#park);
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
    const encoded = encodeReply(reply.text);
    if (this.#probed && encoded[0] !== REPLY_FIRST_BYTE[0]) {
      // Cannot happen with this daemon's replies; if it ever did, a cut-off reply is the safe answer (a temporary failure).
      this.#socket.destroy();
      return;
    }
    // Once the reply is in the kernel it reaches the peer even after we close;
    // closing right away means a peer that never hangs up holds nothing of ours.
    this.#socket.end(this.#probed ? encoded.subarray(1) : encoded, () => this.#socket.destroy());
  }

  readonly #park = (): boolean => {
    if (this.#parked) return true;
    if (this.#room === undefined || this.#phase !== 'answering') return this.#room === undefined;
    this.#parked = this.#room.enter(this);
    return this.#parked;
  };

  #onPeerEnd(): void {
    if (this.#phase === 'reading') {
      this.#log.debug({ code: ErrorCodes.TRUNCATED_REQUEST, bytes: this.#bytesReceived }, 'peer closed before the request was complete; no reply');
      this.#socket.destroy();
      return;
    }
    if (this.#phase !== 'answering' || this.#probed) return;
    // Hung up, or only half-closed? The reply's first byte answers it (see the top of this file):
    // a write to a peer that is gone fails, the socket closes, and #onClose cancels the work.
    this.#probed = true;
    this.#socket.write(REPLY_FIRST_BYTE);
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
