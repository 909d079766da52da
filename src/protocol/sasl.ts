/**
 * The SASL mechanisms PLAIN (RFC 4616) and LOGIN as small state machines
 * over the client's responses, with no socket in sight: base64 text in, a
 * challenge, the credentials or a refusal out. The Dovecot connection
 * (dovecot-connection.ts) frames the lines and runs one exchange per request.
 * (After Dovecot's mech-plain.c and nodemailer's sasl.js.)
 *
 * The decoded message is copied out field by field and then overwritten, so
 * the only copies of a password left are the ones handed back.
 */
import { decodeBase64 } from './dovecot-codec.js';

export const MECHANISMS = ['PLAIN', 'LOGIN'] as const;
export type Mechanism = (typeof MECHANISMS)[number];

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
  | { readonly kind: 'refused'; readonly code?: 'invalid_base64' };

/** The mechanism a client named, in any case; undefined when it is not one of ours. */
export function mechanismNamed(name: string): Mechanism | undefined {
  return MECHANISMS.find((mechanism) => mechanism === name.toUpperCase());
}

const INVALID_BASE64: SaslStep = Object.freeze({ kind: 'refused', code: 'invalid_base64' });
const REFUSED: SaslStep = Object.freeze({ kind: 'refused' });

export class SaslExchange {
  readonly mechanism: Mechanism;
  /** LOGIN: the user name, once the first response has come. */
  #login: Buffer | undefined;
  #done = false;

  constructor(mechanism: Mechanism) {
    this.mechanism = mechanism;
  }

  /**
   * The first step. `initial` is the initial response, base64, when the
   * client sent one. An empty one to LOGIN (Exim's dovecot driver sends it)
   * is no user name yet.
   */
  start(initial: string | undefined): SaslStep {
    if (initial === undefined || (this.mechanism === 'LOGIN' && initial === '')) {
      return { kind: 'challenge', data: this.mechanism === 'PLAIN' ? '' : USERNAME_PROMPT };
    }
    return this.respond(initial);
  }

  /** The client's response (base64) to the last challenge. Once the exchange has ended (credentials given, or refused), every response is refused. */
  respond(response: string): SaslStep {
    if (this.#done) return REFUSED;
    const data = decodeBase64(response);
    if (!data) return this.#finish(INVALID_BASE64);
    if (this.mechanism === 'PLAIN') return this.#finish(plainMessage(data));
    if (this.#login === undefined) {
      this.#login = data;
      return { kind: 'challenge', data: PASSWORD_PROMPT };
    }
    return this.#finish({ kind: 'credentials', login: this.#login, password: data });
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
