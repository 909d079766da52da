/**
 * Dovecot's auth policy protocol over HTTP (policy-request.ts reads it), on
 * the listener core (listener.ts): the core caps connections over all and per
 * peer and drains them at shutdown; node:http frames the requests, under
 * deadlines for the headers and the body and a bound on each.
 *
 * Every request must carry the shared secret in the header Dovecot's
 * `auth_policy_server_api_header` names (X-API-Key unless it names another):
 * anyone who could post reports could throttle any name, or make any address
 * an owner address. The secret is compared in constant time and never logged.
 *
 * `allow` is answered once the handler decides, which may be after a wait
 * (the throttle's turn: the tarpit), under the answer deadline; while it
 * waits on the throttle it takes a place in the core's room for held
 * answers. `report` is answered at once; Dovecot does not read that answer.
 */
import http from 'node:http';
import type net from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { LazyCancellation, type Cancellation } from '../common/cancellation.js';
import { describeError, ErrorCodes } from '../errors.js';
import type { Hold } from './answering.js';
import { Listener, type ConnectionRoom, type ServedConnection } from './listener.js';
import { commandOf, MAX_POLICY_BODY_BYTES, readPolicyBody, type PolicyAnswer, type PolicyQuestion, type PolicyReport } from './policy-request.js';

/** What decides: auth/policy-guard.ts. */
export interface PolicyHandler {
  allow(question: PolicyQuestion, cancellation: Cancellation, hold: Hold): Promise<PolicyAnswer>;
  report(question: PolicyQuestion, report: PolicyReport): void;
}

export interface PolicySecret {
  /** The header's name, lower-case as node:http gives it. */
  readonly header: string;
  readonly value: string;
}

export interface PolicyServerOptions {
  readonly handler: PolicyHandler;
  readonly secret: PolicySecret;
  /** readTimeoutMs: the headers and the body, each; answerTimeoutMs: an allow's answer, waits included. */
  readonly timeouts: { readonly readTimeoutMs: number; readonly answerTimeoutMs: number };
  readonly maxConnections: number;
  readonly maxPerPeer: number;
  readonly logger: Logger;
}

/** Dovecot keeps idle connections this long (its http-client's max_idle_time); ours wait a little longer. */
const KEEP_ALIVE_MS = 15_000;
const MAX_HEADER_BYTES = 8 * 1024;
/** Refused requests are logged at most this often, with how many there were. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;
/** What an allow is answered when deciding failed: never an allow, or a failure here would open the gate. */
const INTERNAL_REFUSAL: PolicyAnswer = Object.freeze({ status: -1, msg: 'Temporary failure, try again later.' });

class PolicyConnection implements ServedConnection {
  readonly #socket: net.Socket;
  readonly room: ConnectionRoom;
  #busy = false;
  #lastActive = performance.now();

  constructor(socket: net.Socket, room: ConnectionRoom) {
    this.#socket = socket;
    this.room = room;
  }

  get isIdle(): boolean {
    return !this.#busy;
  }

  idleSince(): number | undefined {
    return this.#busy ? undefined : this.#lastActive;
  }

  begin(): void {
    this.#busy = true;
  }

  end(): void {
    this.#busy = false;
    this.#lastActive = performance.now();
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

/** Counts refusals of one kind and logs them at most once per interval. */
class RefusalNote {
  readonly #log: Logger;
  readonly #code: string;
  readonly #message: string;
  #count = 0;
  #last = Number.NEGATIVE_INFINITY;

  constructor(log: Logger, code: string, message: string) {
    this.#log = log;
    this.#code = code;
    this.#message = message;
  }

  note(detail?: string): void {
    this.#count += 1;
    const now = performance.now();
    if (now - this.#last < REFUSAL_LOG_INTERVAL_MS) return;
    this.#last = now;
    this.#log.warn({ listener: 'policy', code: this.#code, refused: this.#count, ...(detail ? { detail } : {}) }, `${this.#message} (${this.#count} since the last such line)`);
    this.#count = 0;
  }
}

export class PolicyServer extends Listener<PolicyConnection> {
  constructor(options: PolicyServerOptions) {
    const connections = new WeakMap<net.Socket, PolicyConnection>();
    const answer = requestAnswerer(options);
    const { readTimeoutMs } = options.timeouts;
    super({
      name: 'policy',
      maxConnections: options.maxConnections,
      maxPerPeer: options.maxPerPeer,
      loginsPerConnection: 'many',
      connect: (socket, room) => {
        const connection = new PolicyConnection(socket, room);
        connections.set(socket, connection);
        return connection;
      },
      serve: (accept) => {
        const server = http.createServer(
          { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: readTimeoutMs, requestTimeout: readTimeoutMs, keepAliveTimeout: KEEP_ALIVE_MS, connectionsCheckingInterval: Math.min(1000, readTimeoutMs) },
          (request, response) => {
            const connection = connections.get(request.socket);
            if (!connection) {
              response.destroy();
              return;
            }
            void answer(request, response, connection);
          },
        );
        // The core sees each socket first: one it refuses is closed before HTTP reads a byte.
        server.prependListener('connection', accept);
        server.on('clientError', (_error, socket) => socket.destroy());
        return server;
      },
      logger: options.logger,
    });
  }
}

function requestAnswerer({ handler, secret, timeouts, logger }: PolicyServerOptions) {
  const unauthorized = new RefusalNote(logger, ErrorCodes.POLICY_UNAUTHORIZED, 'policy requests without the shared secret refused (auth_policy_server_api_header)');
  const malformed = new RefusalNote(logger, ErrorCodes.POLICY_MALFORMED, "policy requests that are not Dovecot's refused");
  const expected = digest(secret.value);
  const authorized = (given: string | string[] | undefined): boolean => typeof given === 'string' && timingSafeEqual(digest(given.trim()), expected);

  return async (request: http.IncomingMessage, response: http.ServerResponse, connection: PolicyConnection): Promise<void> => {
    connection.begin();
    try {
      if (request.method !== 'POST') return send(response, 405, {});
      if (!authorized(request.headers[secret.header])) {
        unauthorized.note();
        return send(response, 401, {});
      }
      const command = commandOf(request.url);
      if (!command) {
        malformed.note('no command=allow or command=report in the URL');
        return send(response, 400, {});
      }
      const body = await readBody(request);
      if (body === 'too-large') {
        malformed.note(`a body over ${MAX_POLICY_BODY_BYTES} bytes`);
        response.shouldKeepAlive = false;
        return send(response, 413, {});
      }
      if (body === 'aborted') return;
      const read = readPolicyBody(body, command);
      if (!read.ok) {
        malformed.note(read.problem);
        return send(response, 400, {});
      }
      if (command === 'report') {
        handler.report(read.question, read.report!);
        return send(response, 200, {});
      }
      send(response, 200, await decide(handler, read.question, request, connection.room, timeouts.answerTimeoutMs, logger));
    } catch (error) {
      logger.error({ listener: 'policy', code: ErrorCodes.INTERNAL, error: describeError(error) }, 'policy request failed');
      if (!response.headersSent) send(response, 500, {});
    } finally {
      connection.end();
    }
  };
}

/** An allow's answer, under the answer deadline; a client that leaves cancels the wait. */
async function decide(handler: PolicyHandler, question: PolicyQuestion, request: http.IncomingMessage, room: ConnectionRoom, deadlineMs: number, logger: Logger): Promise<PolicyAnswer> {
  const cancellation = new LazyCancellation();
  const deadline = setTimeout(() => cancellation.abort(), deadlineMs);
  deadline.unref();
  const left = (): void => cancellation.abort();
  request.socket.once('close', left);
  let held = false;
  const hold: Hold = () => {
    if (!held) held = room.hold();
    return held;
  };
  try {
    return await handler.allow(question, cancellation, hold);
  } catch (error) {
    logger.error({ listener: 'policy', code: ErrorCodes.INTERNAL, error: describeError(error) }, 'deciding a policy request failed: refused');
    return INTERNAL_REFUSAL;
  } finally {
    clearTimeout(deadline);
    request.socket.off('close', left);
    if (held) room.release();
  }
}

/** The body, or why there is none: larger than any of Dovecot's, or the client left. Its deadline is the server's requestTimeout. */
async function readBody(request: http.IncomingMessage): Promise<Buffer | 'too-large' | 'aborted'> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_POLICY_BODY_BYTES) return 'too-large';
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of request as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_POLICY_BODY_BYTES) return 'too-large';
      chunks.push(chunk);
    }
  } catch {
    return 'aborted';
  }
  return Buffer.concat(chunks, size);
}

function send(response: http.ServerResponse, status: number, body: object): void {
  if (response.destroyed) return;
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}
