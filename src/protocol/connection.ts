/**
 * One mux connection: read one request, answer it once, close. Every phase
 * has an absolute deadline, so a silent, dribbling or non-reading peer is
 * dropped instead of pinning the daemon.
 *
 * A client that hangs up while its answer is being worked on cancels the
 * work (answering.ts). The connection keeps reading after the request to
 * notice the end of the stream, and an end of stream is either a client that
 * hung up or one that only shut down its sending side (socat, nc) and still
 * wants the answer. Writing tells the two apart: the reply's first byte is
 * known in advance (the high byte of its 16-bit length, 0 for every reply
 * this daemon sends), so that byte is written at once; to a client that hung
 * up the write fails (EPIPE), and the work is cancelled; a half-closed client
 * simply receives its reply in two pieces.
 */
import type { Logger } from 'pino';
import type { AcceptedSocket } from './accepted-socket.js';
import { encodeReply, RequestDecoder, type MuxRequest } from './codec.js';
import { earlyRefusalReply, NO_ANSWER, type Reply } from './replies.js';
import { clientAddressOf, EARLY_REFUSAL_MESSAGE, refusalBeforeAuthentication, type LoginRequest } from './request.js';
import { PendingAnswer, type AnswerListener, type LoginHandler } from './answering.js';
import type { ConnectionRoom, ServedConnection } from './listener.js';
import { ErrorCodes } from '../errors.js';

/**
 * Bytes after the request are read (to see the end of the stream) and
 * ignored, as saslauthd ignores them; past this many while the answer is
 * being worked on, the peer is only making work, and is dropped.
 */
const MAX_BYTES_AFTER_REQUEST = 64 * 1024;

/** A real client writes its request at once; one still silent after this long may be closed to make room at the cap. */
const STALLED_AFTER_MS = 100;

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

export class MuxConnection implements ServedConnection, AnswerListener<Reply> {
  readonly #socket: AcceptedSocket;
  readonly #handler: LoginHandler<Reply>;
  readonly #timeouts: ConnectionTimeouts;
  readonly #log: Logger;
  readonly #room: ConnectionRoom;
  readonly #decoder = new RequestDecoder();
  /** performance.now() at accept. */
  readonly #acceptedAt = performance.now();
  #phase: Phase = 'reading';
  #pending: PendingAnswer<Reply> | undefined;
  #bytesReceived = 0;
  #bytesAfterRequest = 0;
  /** The reply's first byte has been written already (to find out whether the peer is still there). */
  #probed = false;
  #held = false;
  /** The deadline of the phase under way: reading the request, or the peer taking the reply. */
  #timer: NodeJS.Timeout | undefined;

  constructor(socket: AcceptedSocket, handler: LoginHandler<Reply>, timeouts: ConnectionTimeouts, log: Logger, room: ConnectionRoom) {
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

  /** Nothing received yet: shutdown may drop it at once. */
  get isIdle(): boolean {
    return this.#phase === 'reading' && this.#bytesReceived === 0;
  }

  /** Still waiting for (the rest of) its request a while after accept: nothing of it is being worked on. Idle since accept. */
  idleSince(now: number): number | undefined {
    return this.#phase === 'reading' && now - this.#acceptedAt >= Math.min(STALLED_AFTER_MS, this.#timeouts.readTimeoutMs / 2) ? this.#acceptedAt : undefined;
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
      this.#log.warn({ code: ErrorCodes.FIELD_TOO_LONG, field: result.field, length: result.length }, EARLY_REFUSAL_MESSAGE);
      this.#send(earlyRefusalReply(ErrorCodes.FIELD_TOO_LONG));
      return;
    }
    const request = loginRequest(result.request);
    const refusal = refusalBeforeAuthentication(request);
    if (refusal) {
      this.#log.warn({ code: refusal }, EARLY_REFUSAL_MESSAGE);
      request.password.wipe();
      this.#send(earlyRefusalReply(refusal));
      return;
    }
    this.#answer(request);
  }

  #answer(request: LoginRequest): void {
    this.#phase = 'answering';
    if (this.#timer) clearTimeout(this.#timer);
    this.#pending = new PendingAnswer(request, this.#handler, this.#hold, this.#timeouts.answerTimeoutMs, this.#log, this);
  }

  /** The handler's reply, or none to give (a temporary failure). */
  answered(reply: Reply | undefined): void {
    if (this.#phase === 'answering') this.#send(reply ?? NO_ANSWER);
  }

  /** No answer before the deadline: closed without a reply. */
  deadlinePassed(): void {
    this.#send(NO_ANSWER);
  }

  #send(reply: Reply): void {
    if (this.#phase === 'replying' || this.#phase === 'closed') return;
    this.#phase = 'replying';
    if (reply.kind === 'no-answer') {
      this.#socket.destroy();
      return;
    }
    const encoded = encodeReply(reply.text);
    if (this.#probed && encoded[0] !== REPLY_FIRST_BYTE[0]) {
      // Cannot happen with this daemon's replies; if it ever did, a cut-off reply is the safe answer (a temporary failure).
      this.#socket.destroy();
      return;
    }
    // Once the reply is in the kernel it reaches the peer even after we close, followed by the end of the
    // stream: closing right away means a peer that never hangs up holds nothing of ours. A reply of a few
    // bytes to a peer that has read nothing is taken at once, so there is no shutdown to wait for first
    // (end() would ask for one on a later turn of the event loop, then close).
    this.#socket.write(this.#probed ? encoded.subarray(1) : encoded);
    if (this.#socket.writableLength === 0) {
      this.#socket.destroy();
      return;
    }
    this.#arm(this.#timeouts.replyTimeoutMs, () => this.#socket.destroy());
    this.#socket.end(() => this.#socket.destroy());
  }

  readonly #hold = (): boolean => {
    if (!this.#held && this.#phase === 'answering') this.#held = this.#room.hold();
    return this.#held;
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
    if (this.#phase === 'answering') this.#pending?.cancel();
    this.#phase = 'closed';
    if (this.#timer) clearTimeout(this.#timer);
  }

  #arm(ms: number, onExpiry: () => void): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(onExpiry, ms);
    this.#timer.unref();
  }
}

/** The fields as the mux socket carries them, as the rest of the daemon reads every request. */
function loginRequest(fields: MuxRequest): LoginRequest {
  const { login, password, service, realm, clientAddress } = fields;
  const client = clientAddress === undefined ? undefined : clientAddressOf(clientAddress);
  return client === undefined ? { listener: 'mux', login, password, service, realm } : { listener: 'mux', login, password, service, realm, client };
}
