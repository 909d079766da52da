/**
 * One connection of Dovecot's auth-client protocol (dovecot-codec.ts), the
 * server side, as Postfix's smtpd_sasl_type = dovecot expects it:
 *
 *   server, at once   VERSION 1 2, MECH PLAIN plaintext, MECH LOGIN plaintext
 *                     (and OAUTHBEARER and XOAUTH2 when tokens are configured),
 *                     SPID, CUID, COOKIE, DONE (MECH before SPID: Postfix insists)
 *   client            VERSION 1 x, CPID pid, then AUTH id MECH service=.. rip=.. [secured] [resp=..]
 *   server            CONT id challenge | OK id user=<the row's own name> | FAIL id reason=..
 *
 * This file frames lines, checks the handshake and dispatches commands; the
 * mechanisms' steps are sasl.ts's, the answer's deadline and the password's
 * wiping answering.ts's, the cap and the held answers listener.ts's.
 *
 * Requests are pipelined by id and answered in any order. The connection is
 * long-lived: Postfix keeps one per smtpd process, idle for long stretches.
 * Anything that could not be decided (a database down, a deadline passed)
 * closes the connection instead of answering FAIL, since Postfix turns every
 * FAIL into "535 wrong password" and only a lost connection into 454.
 * A bad line, an unknown command or mechanism, an over-long line, or too many
 * requests at once close this connection and nothing else.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { authParameters, formatLine, MAX_LINE_BYTES, parseLine } from './dovecot-codec.js';
import { isTokenMechanism, mechanismNamed, PASSWORD_MECHANISMS, SaslExchange, type Mechanism, type SaslStep, type TokenErrorInfo } from './sasl.js';
import { TOKEN_MECHANISMS, type TokenMechanism, type TokenStatus } from './sasl-token.js';
import { PendingAnswer, type LoginHandler } from './answering.js';
import type { ConnectionRoom, ServedConnection } from './listener.js';
import { clientAddressOf, EARLY_REFUSAL_MESSAGE, refusalBeforeAuthentication, type ClientAddress, type LoginRequest } from './request.js';
import { Secret } from './secret.js';

/** How a login ends for this protocol. */
export type DovecotAnswer = { readonly kind: 'ok'; readonly user: string } | { readonly kind: 'fail'; readonly tokenStatus?: TokenStatus } | { readonly kind: 'temporary' };

export interface DovecotPolicy {
  /** Refuse PLAIN and LOGIN on a request without "secured" (the client's connection to the MTA is not encrypted), as Dovecot's disable_plaintext_auth does. */
  readonly plaintextNeedsTls: boolean;
  /**
   * Whether a TCP peer at this address is believed about its clients'
   * addresses (rip). A peer on a UNIX socket always is: the socket's mode
   * decides who connects.
   */
  readonly trustsAddressesFrom: (peerAddress: string) => boolean;
  /** Set when an identity provider is configured: OAUTHBEARER and XOAUTH2 are offered, and a refused token's error says this. */
  readonly tokens?: TokenErrorInfo;
}

export interface DovecotTimeouts {
  /** From accept until the client's VERSION and CPID have arrived; and from a line's first byte to its end. */
  readonly handshakeTimeoutMs: number;
  /** From a complete request (all of LOGIN's steps) until its answer; past it, the connection closes (a temporary failure). */
  readonly answerTimeoutMs: number;
  /** From a CONT challenge until the client's response. */
  readonly responseTimeoutMs: number;
}

/**
 * A connection idle this long may be closed to make room at the cap: long
 * enough that a request on its way is not cut, short enough that a flood of
 * idle connections does not keep an MTA out for long.
 */
const IDLE_BEFORE_EVICTION_MS = 1000;

/** Requests one connection may have in flight; Postfix has one at a time per smtpd process. */
export const MAX_REQUESTS_PER_CONNECTION = 32;

/**
 * Answers the peer has not read yet: past the first bound the connection
 * stops reading (the peer's writes wait in the kernel, not in our memory)
 * until the peer takes them; past the second, a peer that writes without
 * reading is dropped. An answer line is far below either.
 */
export const UNSENT_PAUSE_BYTES = 64 * 1024;
export const UNSENT_DROP_BYTES = 1024 * 1024;

const EMPTY = Buffer.alloc(0);

/** A request between AUTH and its answer. */
interface Request {
  readonly service: string;
  readonly client: ClientAddress | undefined;
  /** rip from a peer that is not believed: logged, nothing more. */
  readonly claimedClient: string | undefined;
  readonly secured: boolean;
  readonly exchange: SaslExchange;
  /** Waiting for the client's CONT: the timer that gives up on it. */
  awaiting: NodeJS.Timeout | undefined;
  answering: PendingAnswer<DovecotAnswer> | undefined;
  /** Its answer waits on the throttle, in the listener's room for held answers. */
  held: boolean;
}

let nextConnectionId = 1;

export class DovecotConnection implements ServedConnection {
  readonly #socket: Socket;
  readonly #handler: LoginHandler<DovecotAnswer>;
  readonly #timeouts: DovecotTimeouts;
  readonly #log: Logger;
  readonly #policy: DovecotPolicy;
  readonly #room: ConnectionRoom;
  readonly #requests = new Map<string, Request>();
  #buffer = '';
  #gotVersion = false;
  #gotCpid = false;
  #handshakeTimer: NodeJS.Timeout | undefined;
  /** Runs while a line has begun and not ended. */
  #lineTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Not reading until the peer has taken our answers (UNSENT_PAUSE_BYTES). */
  #paused = false;
  /** performance.now() of the last line either way. */
  #lastActivity = performance.now();
  /** Whether this peer's rip is believed (DovecotPolicy). */
  readonly #believed: boolean;
  readonly #offered: readonly Mechanism[];

  constructor(socket: Socket, handler: LoginHandler<DovecotAnswer>, timeouts: DovecotTimeouts, log: Logger, policy: DovecotPolicy, room: ConnectionRoom) {
    this.#socket = socket;
    this.#handler = handler;
    this.#timeouts = timeouts;
    this.#log = log;
    this.#policy = policy;
    this.#room = room;
    this.#believed = socket.remoteAddress === undefined || policy.trustsAddressesFrom(socket.remoteAddress);
    this.#offered = policy.tokens ? [...PASSWORD_MECHANISMS, ...TOKEN_MECHANISMS] : PASSWORD_MECHANISMS;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.#onData(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => this.#log.debug({ error: { code: error.code, message: error.message } }, 'dovecot-protocol connection error'));
    socket.on('close', () => this.#onClose());
    socket.on('end', () => socket.end());
    this.#handshakeTimer = setTimeout(() => this.#drop('no VERSION and CPID before the handshake deadline'), timeouts.handshakeTimeoutMs);
    this.#handshakeTimer.unref();
    const cuid = nextConnectionId++;
    this.#write(
      formatLine('VERSION', '1', '2') +
        // Dovecot flags the token mechanisms plaintext too: a token is as good as a password to whoever sees it.
        this.#offered.map((mechanism) => formatLine('MECH', mechanism, 'plaintext')).join('') +
        formatLine('SPID', String(process.pid)) +
        formatLine('CUID', String(cuid)) +
        formatLine('COOKIE', Buffer.from(`${process.pid}:${cuid}:${Date.now()}`).toString('hex').padEnd(32, '0').slice(0, 32)) +
        formatLine('DONE'),
    );
  }

  destroy(): void {
    this.#socket.destroy();
  }

  /** Nothing in flight: shutdown may close it at once. */
  get isIdle(): boolean {
    return this.#requests.size === 0;
  }

  /**
   * Nothing in flight, no line begun, for at least IDLE_BEFORE_EVICTION_MS:
   * closing it costs no login. An MTA keeps its connection open between
   * logins (Postfix: one per smtpd process) and connects again when it finds
   * it closed, before sending its request (a write to a UNIX socket whose
   * peer has closed fails at once, and Postfix then reconnects and retries).
   */
  idleSince(now: number): number | undefined {
    if (this.#requests.size > 0 || this.#buffer !== '' || this.#paused) return undefined;
    return now - this.#lastActivity >= IDLE_BEFORE_EVICTION_MS ? this.#lastActivity : undefined;
  }

  #onData(chunk: string): void {
    if (this.#closed) return;
    this.#lastActivity = performance.now();
    this.#buffer += chunk;
    this.#readLines();
  }

  /** The complete lines buffered, until the connection closes or pauses (the rest waits); then the bound on the line begun. */
  #readLines(): void {
    let newline: number;
    while (!this.#paused && (newline = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, newline);
      this.#buffer = this.#buffer.slice(newline + 1);
      if (Buffer.byteLength(line) > MAX_LINE_BYTES) return this.#drop('line too long');
      this.#onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
      if (this.#closed) return;
    }
    if (this.#paused) return;
    if (Buffer.byteLength(this.#buffer) > MAX_LINE_BYTES) return this.#drop('line too long');
    // An idle connection may wait for ever, a line once begun may not: a peer dribbling bytes holds nothing for long.
    if (this.#buffer === '') {
      if (this.#lineTimer) clearTimeout(this.#lineTimer);
      this.#lineTimer = undefined;
    } else if (!this.#lineTimer) {
      this.#lineTimer = setTimeout(() => this.#drop('a line not finished before the read deadline'), this.#timeouts.handshakeTimeoutMs);
      this.#lineTimer.unref();
    }
  }

  /** One or more lines to the peer, with backpressure: a peer that does not read its answers is not read either, and past a bound is dropped. */
  #write(lines: string): void {
    if (this.#closed) return;
    this.#lastActivity = performance.now();
    this.#socket.write(lines);
    const unsent = this.#socket.writableLength;
    if (unsent > UNSENT_DROP_BYTES) return this.#drop('the peer does not read its answers');
    if (unsent > UNSENT_PAUSE_BYTES && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
      // A peer that takes nothing within the read deadline is gone, or is only holding a connection.
      const giveUp = setTimeout(() => this.#drop('the peer does not read its answers'), this.#timeouts.handshakeTimeoutMs);
      giveUp.unref();
      this.#socket.once('drain', () => {
        clearTimeout(giveUp);
        this.#paused = false;
        this.#socket.resume();
        this.#readLines();
      });
    }
  }

  #onLine(line: string): void {
    const parsed = parseLine(line);
    if (!parsed) return this.#drop('a line that is not a command');
    const { command, fields } = parsed;
    switch (command) {
      case 'VERSION':
        if (fields[0] !== '1') return this.#drop(`protocol version ${fields[0] ?? '(none)'}, not 1`);
        this.#gotVersion = true;
        return this.#handshakeProgress();
      case 'CPID':
        if (!/^\d+$/.test(fields[0] ?? '')) return this.#drop('CPID without a process id');
        this.#gotCpid = true;
        return this.#handshakeProgress();
      case 'AUTH':
        if (!this.#gotVersion || !this.#gotCpid) return this.#drop('AUTH before the handshake');
        return this.#onAuth(fields);
      case 'CONT':
        return this.#onCont(fields);
      case 'CANCEL':
        return this.#forget(fields[0] ?? '');
      default:
        return this.#drop(`unknown command ${command}`);
    }
  }

  #handshakeProgress(): void {
    if (this.#gotVersion && this.#gotCpid && this.#handshakeTimer) {
      clearTimeout(this.#handshakeTimer);
      this.#handshakeTimer = undefined;
    }
  }

  #onAuth(fields: readonly string[]): void {
    const [id = '', mechanismName = '', ...rest] = fields;
    if (!/^\d+$/.test(id) || this.#requests.has(id)) return this.#drop('AUTH with a missing or repeated id');
    const mechanism = mechanismNamed(mechanismName, this.#offered);
    if (!mechanism) return this.#drop(`unknown mechanism ${mechanismName}`);
    if (this.#requests.size >= MAX_REQUESTS_PER_CONNECTION) return this.#drop(`more than ${MAX_REQUESTS_PER_CONNECTION} requests at once`);
    const parameters = authParameters(rest);
    const rip = parameters.get('rip');
    const client = rip ? clientAddressOf(Buffer.from(rip)) : undefined;
    const request: Request = {
      service: parameters.get('service') ?? '',
      client: this.#believed ? client : undefined,
      claimedClient: this.#believed ? undefined : client?.sent,
      secured: parameters.has('secured'),
      exchange: new SaslExchange(mechanism, this.#policy.tokens),
      awaiting: undefined,
      answering: undefined,
      held: false,
    };
    if (this.#policy.plaintextNeedsTls && !request.secured) {
      this.#write(formatLine('FAIL', id, 'reason=Plaintext authentication disallowed on non-secure (SSL/TLS) connections.'));
      return;
    }
    this.#requests.set(id, request);
    this.#step(id, request, request.exchange.start(parameters.get('resp')));
  }

  #onCont(fields: readonly string[]): void {
    const [id = '', response = ''] = fields;
    const request = this.#requests.get(id);
    if (!request || request.awaiting === undefined) return this.#drop('CONT for no request waiting for one');
    clearTimeout(request.awaiting);
    request.awaiting = undefined;
    this.#step(id, request, request.exchange.respond(response));
  }

  #step(id: string, request: Request, step: SaslStep): void {
    switch (step.kind) {
      case 'challenge':
        request.awaiting = setTimeout(() => this.#drop('no response to a challenge before its deadline'), this.#timeouts.responseTimeoutMs);
        request.awaiting.unref();
        this.#write(formatLine('CONT', id, step.data));
        return;
      case 'refused':
        return this.#fail(id, step.code);
      case 'credentials':
        return this.#answer(id, request, step.login, step.password);
      case 'token':
        return this.#answer(id, request, step.login, step.token, step.mechanism);
    }
  }

  #answer(id: string, request: Request, login: Buffer, password: Buffer, token?: TokenMechanism): void {
    const asked: LoginRequest = {
      listener: 'dovecot',
      login,
      password: new Secret(password),
      ...(token ? { token } : {}),
      service: Buffer.from(request.service),
      realm: EMPTY,
      ...(request.client === undefined ? {} : { client: request.client }),
      ...(request.claimedClient === undefined ? {} : { claimedClient: request.claimedClient }),
      secured: request.secured,
    };
    // saslauthd's limits, and its refusal of empty names and passwords: a definite no, as on the mux socket.
    const refusal = refusalBeforeAuthentication(asked);
    if (refusal) {
      this.#log.warn({ code: refusal }, EARLY_REFUSAL_MESSAGE);
      asked.password.wipe();
      return this.#fail(id);
    }
    const hold = (): boolean => {
      if (!request.held && this.#requests.get(id) === request) request.held = this.#room.hold();
      return request.held;
    };
    request.answering = new PendingAnswer(asked, this.#handler, hold, this.#timeouts.answerTimeoutMs, this.#log, {
      answered: (answer) => this.#deliver(id, request, answer),
      // The connection goes, and with it the places its held answers took.
      deadlinePassed: () => this.#drop('answer deadline'),
    });
  }

  #deliver(id: string, request: Request, answer: DovecotAnswer | undefined): void {
    if (request.held) this.#room.release();
    request.held = false;
    // Cancelled, or its id taken by a later request since: this answer belongs to nobody.
    if (this.#closed || this.#requests.get(id) !== request) return;
    if (answer?.kind === 'fail' && isTokenMechanism(request.exchange.mechanism)) {
      // A refused token: the error first, and FAIL once the client has answered it (sasl.ts).
      request.answering = undefined;
      return this.#step(id, request, request.exchange.refuseToken(answer.tokenStatus ?? 'invalid_token'));
    }
    this.#requests.delete(id);
    if (answer?.kind === 'ok') this.#write(formatLine('OK', id, `user=${answer.user}`));
    else if (answer?.kind === 'fail') this.#write(formatLine('FAIL', id, 'reason=authentication failed'));
    // Postfix answers 454 only for a lost connection; a FAIL would be a "wrong password" (535).
    else this.#drop('temporary failure');
  }

  #fail(id: string, code?: string): void {
    this.#forget(id);
    this.#write(formatLine('FAIL', id, ...(code ? [`code=${code}`] : []), 'reason=authentication failed'));
  }

  #forget(id: string): void {
    const request = this.#requests.get(id);
    if (!request) return;
    if (request.awaiting) clearTimeout(request.awaiting);
    request.answering?.cancel();
    this.#requests.delete(id);
  }

  #drop(why: string): void {
    if (this.#closed) return;
    this.#log.debug({ why }, 'closing a dovecot-protocol connection');
    this.#closed = true;
    this.#socket.destroy();
  }

  #onClose(): void {
    this.#closed = true;
    if (this.#handshakeTimer) clearTimeout(this.#handshakeTimer);
    if (this.#lineTimer) clearTimeout(this.#lineTimer);
    for (const id of [...this.#requests.keys()]) this.#forget(id);
  }
}
