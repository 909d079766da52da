/**
 * One connection of Dovecot's auth-client protocol (dovecot-codec.ts), the
 * server side, as Postfix's smtpd_sasl_type = dovecot expects it:
 *
 *   server, at once   VERSION 1 2, MECH PLAIN plaintext, MECH LOGIN plaintext,
 *                     SPID, CUID, COOKIE, DONE (MECH before SPID: Postfix insists)
 *   client            VERSION 1 x, CPID pid, then AUTH id MECH service=.. rip=.. [secured] [resp=..]
 *   server            CONT id challenge | OK id user=<the row's own name> | FAIL id reason=..
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
import type { AuthRequest } from './codec.js';
import { MAX_FIELD_LENGTH } from './limits.js';
import { Secret } from './secret.js';
import { authParameters, decodeBase64, formatLine, MAX_LINE_BYTES, parseLine } from './dovecot-codec.js';
import { LazyCancellation, type Cancellation } from '../common/cancellation.js';
import { describeError, ErrorCodes } from '../errors.js';

/** How a login ends for this protocol. */
export type DovecotAnswer = { readonly kind: 'ok'; readonly user: string } | { readonly kind: 'fail' } | { readonly kind: 'temporary' };

export type DovecotHandler = (request: AuthRequest, cancellation: Cancellation) => Promise<DovecotAnswer>;

export interface DovecotPolicy {
  /** Refuse PLAIN and LOGIN on a request without "secured" (the client's connection to the MTA is not encrypted), as Dovecot's disable_plaintext_auth does. */
  readonly plaintextNeedsTls: boolean;
}

export interface DovecotTimeouts {
  /** From accept until the client's VERSION and CPID have arrived; and from a line's first byte to its end. */
  readonly handshakeTimeoutMs: number;
  /** From a complete request (all of LOGIN's steps) until its answer; past it, the connection closes (a temporary failure). */
  readonly answerTimeoutMs: number;
  /** From a CONT challenge until the client's response. */
  readonly responseTimeoutMs: number;
}

/** Requests one connection may have in flight; Postfix has one at a time per smtpd process. */
export const MAX_REQUESTS_PER_CONNECTION = 32;

const MECHANISMS = ['PLAIN', 'LOGIN'] as const;
type Mechanism = (typeof MECHANISMS)[number];
const USERNAME_PROMPT = Buffer.from('Username:').toString('base64');
const PASSWORD_PROMPT = Buffer.from('Password:').toString('base64');

/** A request between AUTH and its answer. */
interface Pending {
  readonly mechanism: Mechanism;
  readonly service: string;
  readonly remote: string | undefined;
  readonly secured: boolean;
  /** LOGIN: the user name once the first CONT has come back. */
  login?: Buffer;
  /** Waiting for the client's CONT: the timer that gives up on it. */
  awaiting?: NodeJS.Timeout | undefined;
  answering?: { readonly cancellation: LazyCancellation; readonly timer: NodeJS.Timeout };
}

let nextConnectionId = 1;

export class DovecotConnection {
  readonly #socket: Socket;
  readonly #handler: DovecotHandler;
  readonly #timeouts: DovecotTimeouts;
  readonly #log: Logger;
  readonly #policy: DovecotPolicy;
  readonly #pending = new Map<string, Pending>();
  #buffer = '';
  #gotVersion = false;
  #gotCpid = false;
  #handshakeTimer: NodeJS.Timeout | undefined;
  /** Runs while a line has begun and not ended. */
  #lineTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(socket: Socket, handler: DovecotHandler, timeouts: DovecotTimeouts, log: Logger, policy: DovecotPolicy = { plaintextNeedsTls: false }) {
    this.#socket = socket;
    this.#handler = handler;
    this.#timeouts = timeouts;
    this.#log = log;
    this.#policy = policy;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.#onData(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => this.#log.debug({ error: { code: error.code, message: error.message } }, 'dovecot-protocol connection error'));
    socket.on('close', () => this.#onClose());
    socket.on('end', () => socket.end());
    this.#handshakeTimer = setTimeout(() => this.#drop('no VERSION and CPID before the handshake deadline'), timeouts.handshakeTimeoutMs);
    this.#handshakeTimer.unref();
    const cuid = nextConnectionId++;
    socket.write(
      formatLine('VERSION', '1', '2') +
        MECHANISMS.map((mechanism) => formatLine('MECH', mechanism, 'plaintext')).join('') +
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
    return this.#pending.size === 0;
  }

  #onData(chunk: string): void {
    if (this.#closed) return;
    this.#buffer += chunk;
    let newline: number;
    while ((newline = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, newline);
      this.#buffer = this.#buffer.slice(newline + 1);
      if (Buffer.byteLength(line) > MAX_LINE_BYTES) return this.#drop('line too long');
      this.#onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
      if (this.#closed) return;
    }
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
    if (!/^\d+$/.test(id) || this.#pending.has(id)) return this.#drop('AUTH with a missing or repeated id');
    const mechanism = MECHANISMS.find((name) => name === mechanismName.toUpperCase());
    if (!mechanism) return this.#drop(`unknown mechanism ${mechanismName}`);
    if (this.#pending.size >= MAX_REQUESTS_PER_CONNECTION) return this.#drop(`more than ${MAX_REQUESTS_PER_CONNECTION} requests at once`);
    const parameters = authParameters(rest);
    const pending: Pending = { mechanism, service: parameters.get('service') ?? '', remote: parameters.get('rip') || undefined, secured: parameters.has('secured') };
    this.#pending.set(id, pending);
    if (this.#policy.plaintextNeedsTls && !pending.secured) {
      this.#forget(id);
      this.#socket.write(formatLine('FAIL', id, 'reason=Plaintext authentication disallowed on non-secure (SSL/TLS) connections.'));
      return;
    }
    // An empty initial response to LOGIN (Exim's dovecot driver sends one) is no user name yet.
    const initial = mechanism === 'LOGIN' && parameters.get('resp') === '' ? undefined : parameters.get('resp');
    if (initial === undefined) {
      return this.#challenge(id, pending, mechanism === 'PLAIN' ? '' : USERNAME_PROMPT);
    }
    const data = decodeBase64(initial);
    if (!data) return this.#fail(id, 'invalid_base64');
    if (mechanism === 'PLAIN') return this.#plain(id, pending, data);
    pending.login = data;
    return this.#challenge(id, pending, PASSWORD_PROMPT);
  }

  #onCont(fields: readonly string[]): void {
    const [id = '', response = ''] = fields;
    const pending = this.#pending.get(id);
    if (!pending || pending.awaiting === undefined) return this.#drop('CONT for no request waiting for one');
    clearTimeout(pending.awaiting);
    pending.awaiting = undefined;
    const data = decodeBase64(response);
    if (!data) return this.#fail(id, 'invalid_base64');
    if (pending.mechanism === 'PLAIN') return this.#plain(id, pending, data);
    if (pending.login === undefined) {
      pending.login = data;
      return this.#challenge(id, pending, PASSWORD_PROMPT);
    }
    this.#answer(id, pending, pending.login, data);
  }

  #challenge(id: string, pending: Pending, challenge: string): void {
    pending.awaiting = setTimeout(() => this.#drop('no response to a challenge before its deadline'), this.#timeouts.responseTimeoutMs);
    pending.awaiting.unref();
    this.#socket.write(formatLine('CONT', id, challenge));
  }

  /** PLAIN's message: authorization id, NUL, user, NUL, password. */
  #plain(id: string, pending: Pending, message: Buffer): void {
    const first = message.indexOf(0);
    const second = first < 0 ? -1 : message.indexOf(0, first + 1);
    if (second < 0) {
      message.fill(0);
      return this.#fail(id, 'invalid PLAIN message');
    }
    const login = Buffer.from(message.subarray(first + 1, second));
    // Logging in as someone else (proxy authorization) is not something a saslauthd table can allow.
    const asSomeoneElse = first > 0 && !message.subarray(0, first).equals(login);
    const password = Buffer.from(message.subarray(second + 1));
    message.fill(0);
    if (asSomeoneElse) {
      password.fill(0);
      return this.#fail(id);
    }
    this.#answer(id, pending, login, password);
  }

  #answer(id: string, pending: Pending, login: Buffer, password: Buffer): void {
    // saslauthd's limits, and its refusal of empty names and passwords: a definite no, as on the mux socket.
    if (login.length === 0 || password.length === 0 || login.length > MAX_FIELD_LENGTH || password.length > MAX_FIELD_LENGTH || Buffer.byteLength(pending.service) > MAX_FIELD_LENGTH) {
      password.fill(0);
      return this.#fail(id);
    }
    const request: AuthRequest = {
      login,
      password: new Secret(password),
      service: Buffer.from(pending.service),
      realm: Buffer.alloc(0),
      ...(pending.remote === undefined ? {} : { clientAddress: Buffer.from(pending.remote) }),
      secured: pending.secured,
      listener: 'dovecot',
    };
    const cancellation = new LazyCancellation();
    const timer = setTimeout(() => {
      this.#log.error({ code: ErrorCodes.AUTH_TIMEOUT, timeoutMs: this.#timeouts.answerTimeoutMs }, 'no answer before the deadline; closing the connection (temporary failure)');
      this.#drop('answer deadline');
    }, this.#timeouts.answerTimeoutMs);
    timer.unref();
    pending.answering = { cancellation, timer };
    void this.#decide(id, request, cancellation);
  }

  async #decide(id: string, request: AuthRequest, cancellation: LazyCancellation): Promise<void> {
    let answer: DovecotAnswer;
    try {
      answer = await this.#handler(request, cancellation);
    } catch (error) {
      this.#log.error({ code: ErrorCodes.INTERNAL, error: describeError(error) }, 'request handler failed; closing the connection');
      answer = { kind: 'temporary' };
    } finally {
      request.password.wipe();
    }
    const pending = this.#pending.get(id);
    if (this.#closed || !pending) return;
    clearTimeout(pending.answering?.timer);
    this.#pending.delete(id);
    if (answer.kind === 'ok') this.#socket.write(formatLine('OK', id, `user=${answer.user}`));
    else if (answer.kind === 'fail') this.#socket.write(formatLine('FAIL', id, 'reason=authentication failed'));
    // Postfix answers 454 only for a lost connection; a FAIL would be a "wrong password" (535).
    else this.#drop('temporary failure');
  }

  #fail(id: string, code?: string): void {
    this.#forget(id);
    this.#socket.write(formatLine('FAIL', id, ...(code ? [`code=${code}`] : []), 'reason=authentication failed'));
  }

  #forget(id: string): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    if (pending.awaiting) clearTimeout(pending.awaiting);
    if (pending.answering) {
      clearTimeout(pending.answering.timer);
      pending.answering.cancellation.abort();
    }
    this.#pending.delete(id);
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
    for (const id of [...this.#pending.keys()]) this.#forget(id);
  }
}
