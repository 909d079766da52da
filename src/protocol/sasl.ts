/**
 * The SASL mechanisms PLAIN (RFC 4616) and LOGIN, and OAUTHBEARER and XOAUTH2
 * when tokens are configured (sasl-token.ts reads their messages), as small
 * state machines over the client's responses, with no socket in sight: base64
 * text in, a challenge, the credentials (a password or a bearer token) or a
 * refusal out. The Dovecot connection (dovecot-connection.ts) frames the
 * lines and runs one exchange per request. (After Dovecot's mech-plain.c,
 * mech-oauth2.c and nodemailer's sasl.js.)
 *
 * The decoded message is copied out field by field and then overwritten, so
 * the only copies of a password or token left are the ones handed back.
 */
import { decodeBase64 } from './dovecot-codec.js';
import { readTokenMessage, tokenErrorChallenge, TOKEN_MECHANISMS, type TokenMechanism, type TokenStatus } from './sasl-token.js';

export const PASSWORD_MECHANISMS = ['PLAIN', 'LOGIN'] as const;
export type Mechanism = (typeof PASSWORD_MECHANISMS)[number] | TokenMechanism;

/** What a refused token's error tells the client (RFC 7628 section 3.2.2). */
export interface TokenErrorInfo {
  /** The scope a token needs, when one is required. */
  readonly scope?: string;
  /** Where the client can find the provider, to get a new token. */
  readonly openidConfiguration?: string;
}

/** LOGIN's prompts, base64 as sent: "Username:" and "Password:". */
export const USERNAME_PROMPT = Buffer.from('Username:').toString('base64');
export const PASSWORD_PROMPT = Buffer.from('Password:').toString('base64');

/**
 *   challenge    send this (base64) and wait for the client's response
 *   credentials  the exchange is complete: a login and a password to check
 *   refused      a definite no without checking anything; `code` is Dovecot's
 *                (invalid_base64), absent for a message that is not one
 */
export type SaslStep =
  | { readonly kind: 'challenge'; readonly data: string }
  | { readonly kind: 'credentials'; readonly login: Buffer; readonly password: Buffer }
  | { readonly kind: 'token'; readonly mechanism: TokenMechanism; readonly login: Buffer; readonly token: Buffer }
  | { readonly kind: 'refused'; readonly code?: 'invalid_base64' };

/** The mechanism a client named, in any case, when it is one of those offered. */
export function mechanismNamed(name: string, offered: readonly Mechanism[] = PASSWORD_MECHANISMS): Mechanism | undefined {
  return offered.find((mechanism) => mechanism === name.toUpperCase());
}

export function isTokenMechanism(mechanism: Mechanism): mechanism is TokenMechanism {
  return (TOKEN_MECHANISMS as readonly string[]).includes(mechanism);
}

const INVALID_BASE64: SaslStep = Object.freeze({ kind: 'refused', code: 'invalid_base64' });
const REFUSED: SaslStep = Object.freeze({ kind: 'refused' });

export class SaslExchange {
  readonly mechanism: Mechanism;
  readonly #tokenErrors: TokenErrorInfo;
  /** LOGIN: the user name, once the first response has come. */
  #login: Buffer | undefined;
  #done = false;
  /** A token's error challenge was sent: the client's next response ends the exchange. */
  #awaitingAcknowledgement = false;

  constructor(mechanism: Mechanism, tokenErrors: TokenErrorInfo = {}) {
    this.mechanism = mechanism;
    this.#tokenErrors = tokenErrors;
  }

  /**
   * A token refused (by the message's shape here, or by the identity
   * provider): the error challenge to send. The client's answer to it ends
   * the exchange with a refusal.
   */
  refuseToken(status: TokenStatus): SaslStep {
    this.#done = false;
    this.#awaitingAcknowledgement = true;
    return { kind: 'challenge', data: tokenErrorChallenge(this.mechanism as TokenMechanism, status, this.#tokenErrors.scope, this.#tokenErrors.openidConfiguration) };
  }

  /**
   * The first step. `initial` is the initial response, base64, when the
   * client sent one. An empty one to LOGIN (Exim's dovecot driver sends it)
   * is no user name yet.
   */
  start(initial: string | undefined): SaslStep {
    if (initial === undefined || (this.mechanism === 'LOGIN' && initial === '')) {
      return { kind: 'challenge', data: this.mechanism === 'LOGIN' ? USERNAME_PROMPT : '' };
    }
    return this.respond(initial);
  }

  /** The client's response (base64) to the last challenge. Once the exchange has ended (credentials given, or refused), every response is refused. */
  respond(response: string): SaslStep {
    if (this.#done) return REFUSED;
    const data = decodeBase64(response);
    if (this.#awaitingAcknowledgement) {
      // The client's answer to the error (RFC 7628: a lone ^A; XOAUTH2: nothing). Whatever it is, the exchange fails now.
      data?.fill(0);
      return this.#finish(REFUSED);
    }
    if (!data) return this.#finish(INVALID_BASE64);
    if (isTokenMechanism(this.mechanism)) return this.#token(this.mechanism, data);
    if (this.mechanism === 'PLAIN') return this.#finish(plainMessage(data));
    if (this.#login === undefined) {
      this.#login = data;
      return { kind: 'challenge', data: PASSWORD_PROMPT };
    }
    return this.#finish({ kind: 'credentials', login: this.#login, password: data });
  }

  /** A token message: the token and who it is for, or the error challenge (an authorization identity is required, as Dovecot requires it). */
  #token(mechanism: TokenMechanism, data: Buffer): SaslStep {
    const message = readTokenMessage(mechanism, data);
    if (!message.ok) return this.refuseToken(message.status);
    if (!message.authzid || message.authzid.length === 0) {
      message.token.fill(0);
      return this.refuseToken('invalid_request');
    }
    return this.#finish({ kind: 'token', mechanism, login: message.authzid, token: message.token });
  }

  #finish(step: SaslStep): SaslStep {
    this.#done = true;
    this.#login = undefined;
    return step;
  }
}

/** PLAIN's message: authorization id, NUL, user, NUL, password. */
function plainMessage(message: Buffer): SaslStep {
  const first = message.indexOf(0);
  const second = first < 0 ? -1 : message.indexOf(0, first + 1);
  if (second < 0) {
    message.fill(0);
    return REFUSED;
  }
  const login = Buffer.from(message.subarray(first + 1, second));
  // Logging in as someone else (proxy authorization) is not something a saslauthd table can allow.
  const asSomeoneElse = first > 0 && !message.subarray(0, first).equals(login);
  const password = Buffer.from(message.subarray(second + 1));
  message.fill(0);
  if (asSomeoneElse) {
    password.fill(0);
    return REFUSED;
  }
  return { kind: 'credentials', login, password };
}
