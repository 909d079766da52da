/**
 * The two SASL mechanisms that carry an OAuth 2.0 bearer token instead of a
 * password: OAUTHBEARER (RFC 7628) and XOAUTH2 (Google's older form, which
 * Thunderbird, Outlook and msmtp still send). This file reads a client's
 * message and writes the error a refused token gets; which token is good is
 * not its business. (After RFC 7628 sections 3.1 and 3.2.2, RFC 5801's
 * gs2-header, RFC 6750's b64token, and Dovecot's mech-oauth2.c.)
 *
 *   OAUTHBEARER   gs2-header ^A *(key=value ^A) ^A, the token in
 *                 "auth=Bearer <token>", the authorization identity in the
 *                 header's "a=" (with "=2C" for "," and "=3D" for "=")
 *   XOAUTH2       user=<name> ^A auth=Bearer <token> ^A ^A
 *
 * A refused token is answered with a challenge carrying a JSON error, the
 * client answers it (OAUTHBEARER: a lone ^A; XOAUTH2: an empty response),
 * and only then does the exchange fail. Channel binding is not offered, so a
 * client that insists on it ("p=") is refused.
 *
 * The token is a secret like a password: it is copied out once and the
 * decoded message is overwritten.
 */

export const TOKEN_MECHANISMS = ['OAUTHBEARER', 'XOAUTH2'] as const;
export type TokenMechanism = (typeof TOKEN_MECHANISMS)[number];

/**
 * A bearer token's length at most. Identity providers' JWT access tokens run
 * to a few kilobytes with many roles or groups; this bound keeps a message
 * within one line of Dovecot's protocol (dovecot-codec.ts) once base64 grows
 * it by a third.
 */
export const MAX_TOKEN_BYTES = 4096;

/** RFC 7628's status for a message that is not one (invalid_request) and for a token that is missing or refused (invalid_token). */
export type TokenStatus = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

export type TokenMessage =
  | { readonly ok: true; readonly authzid: Buffer | undefined; readonly token: Buffer }
  | { readonly ok: false; readonly status: TokenStatus; readonly why: string };

const KVSEP = 0x01;
/** RFC 6750: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const BEARER = /^bearer +/i;

function refused(status: TokenStatus, why: string): TokenMessage {
  return { ok: false, status, why };
}

/** The client's message (decoded from base64) for `mechanism`; the message is overwritten either way. */
export function readTokenMessage(mechanism: TokenMechanism, message: Buffer): TokenMessage {
  try {
    return mechanism === 'OAUTHBEARER' ? readOauthbearer(message) : readXoauth2(message);
  } finally {
    message.fill(0);
  }
}

function readOauthbearer(message: Buffer): TokenMessage {
  // gs2-header: cb-flag "," [authzid] ","
  const firstComma = message.indexOf(0x2c);
  const secondComma = firstComma < 0 ? -1 : message.indexOf(0x2c, firstComma + 1);
  if (secondComma < 0) return refused('invalid_request', 'no gs2 header');
  const flag = message.toString('latin1', 0, firstComma);
  if (flag.startsWith('p=')) return refused('invalid_request', 'channel binding asked for (not offered)');
  if (flag !== 'n' && flag !== 'y') return refused('invalid_request', 'a gs2 header without its channel-binding flag');
  const authzidField = message.subarray(firstComma + 1, secondComma);
  let authzid: Buffer | undefined;
  if (authzidField.length > 0) {
    if (authzidField[0] !== 0x61 || authzidField[1] !== 0x3d) return refused('invalid_request', 'a gs2 header whose second field is not a=');
    authzid = unescapeSaslname(authzidField.subarray(2));
    if (!authzid) return refused('invalid_request', 'a badly escaped authorization identity');
  }
  if (message[secondComma + 1] !== KVSEP) return refused('invalid_request', 'no separator after the gs2 header');
  const pairs = keyValues(message.subarray(secondComma + 2));
  if (!pairs) return refused('invalid_request', 'a message not ending in two separators');
  return bearerToken(pairs, authzid);
}

function readXoauth2(message: Buffer): TokenMessage {
  const pairs = keyValues(message);
  if (!pairs) return refused('invalid_request', 'a message not ending in two separators');
  const user = pairs.find(([key]) => key === 'user');
  if (!user || user[1].length === 0) return refused('invalid_request', 'no user=');
  return bearerToken(pairs, Buffer.from(user[1]));
}

/** key=value pairs each ended by ^A, then one more ^A ending the list; undefined when the message is not shaped so. */
function keyValues(body: Buffer): Array<[string, Buffer]> | undefined {
  if (body.length === 0 || body[body.length - 1] !== KVSEP) return undefined;
  const pairs: Array<[string, Buffer]> = [];
  let at = 0;
  while (at < body.length - 1) {
    const end = body.indexOf(KVSEP, at);
    const equals = body.indexOf(0x3d, at);
    if (end < 0 || equals < 0 || equals > end) return undefined;
    const key = body.toString('latin1', at, equals);
    if (!/^[A-Za-z]+$/.test(key)) return undefined;
    pairs.push([key, body.subarray(equals + 1, end)]);
    at = end + 1;
  }
  return at === body.length - 1 ? pairs : undefined;
}

function bearerToken(pairs: ReadonlyArray<[string, Buffer]>, authzid: Buffer | undefined): TokenMessage {
  const auth = pairs.filter(([key]) => key === 'auth');
  if (auth.length !== 1) return refused(auth.length === 0 ? 'invalid_token' : 'invalid_request', auth.length === 0 ? 'no auth=' : 'more than one auth=');
  const value = auth[0]![1].toString('latin1');
  const scheme = BEARER.exec(value);
  if (!scheme) return refused('invalid_token', 'auth= is not a bearer token');
  const token = value.slice(scheme[0].length);
  if (token.length > MAX_TOKEN_BYTES) return refused('invalid_token', `a token longer than ${MAX_TOKEN_BYTES} bytes`);
  if (!B64TOKEN.test(token)) return refused('invalid_token', 'a token with characters a bearer token cannot have');
  return { ok: true, authzid, token: Buffer.from(token, 'latin1') };
}

/** RFC 5801's saslname: "=2C" is ",", "=3D" is "=", and no other "=" may appear. */
function unescapeSaslname(escaped: Buffer): Buffer | undefined {
  const text = escaped.toString('latin1');
  if (/=(?!2C|3D)/.test(text)) return undefined;
  return Buffer.from(text.replace(/=2C/g, ',').replace(/=3D/g, '='), 'latin1');
}

/**
 * The challenge a refused token gets before the exchange fails, base64 as
 * sent: RFC 7628's error for OAUTHBEARER, Google's for XOAUTH2 (an HTTP-like
 * status and the scheme). `openidConfiguration` tells the client where to get
 * a new token.
 */
export function tokenErrorChallenge(mechanism: TokenMechanism, status: TokenStatus, scope: string | undefined, openidConfiguration: string | undefined): string {
  const optional = Object.assign({}, scope === undefined ? {} : { scope }, openidConfiguration === undefined ? {} : { 'openid-configuration': openidConfiguration });
  const error =
    mechanism === 'OAUTHBEARER'
      ? { status, ...optional }
      : { status: status === 'invalid_token' ? '401' : status === 'insufficient_scope' ? '403' : '400', schemes: 'bearer', ...optional };
  return Buffer.from(JSON.stringify(error)).toString('base64');
}
