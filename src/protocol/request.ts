/**
 * One login request, whichever listener it came in on. Each protocol reads
 * its own wire format (codec.ts for saslauthd's socket, dovecot-codec.ts and
 * sasl.ts for Dovecot's) and hands the rest of the daemon this one type, with
 * the client's address already parsed. So the login path never asks which
 * protocol it serves, and nothing is parsed twice.
 */
import { decodeName, escapeForLog } from '../realm/text.js';
import { ErrorCodes } from '../errors.js';
import { MAX_FIELD_LENGTH } from './limits.js';
import { MAX_TOKEN_BYTES, type TokenMechanism } from './sasl-token.js';
import type { Secret } from './secret.js';

/** Where a request came in: saslauthd's socket, Dovecot's auth protocol, or Dovecot's auth policy (a login Dovecot checks itself). */
export type ListenerName = 'mux' | 'dovecot' | 'policy';

export interface ClientAddress {
  /** As the client sent it, made printable: "203.0.113.5;4711" from the mux socket's fifth field, the bare address from Dovecot's rip. */
  readonly sent: string;
  /** The address alone, without a port: what the throttle counts and the backend is told. */
  readonly address: string;
}

export interface LoginRequest {
  readonly listener: ListenerName;
  /** The bytes as received: realm/text.ts decides whether they are a name. */
  readonly login: Buffer;
  /** The password; with `token` set, the bearer token (as secret as a password, and wiped the same way). */
  readonly password: Secret;
  /** Only from the Dovecot protocol: the SASL mechanism that carried a bearer token instead of a password (OAUTHBEARER, XOAUTH2). */
  readonly token?: TokenMechanism;
  readonly service: Buffer;
  readonly realm: Buffer;
  /** Only when the client says where its own client is, and is believed (a peer on a UNIX socket, a trusted TCP peer). */
  readonly client?: ClientAddress;
  /**
   * An address a TCP peer not in --dovecot-trusted-peers gave, made printable:
   * anyone who can connect could claim any address, so it grants nothing
   * (TOTP exceptions, owner addresses) and counts nothing; it is only logged.
   */
  readonly claimedClient?: string;
  /** Only from the Dovecot protocol: whether the client's connection to the MTA is encrypted (TLS). */
  readonly secured?: boolean;
}

/**
 * The client's address from the bytes a protocol carries it in. The mux
 * socket's fifth field is "addr;port" (cyrus-sasl master); the port changes
 * with every connection, so it is never part of the address. Empty: none.
 */
export function clientAddressOf(field: Buffer): ClientAddress | undefined {
  if (field.length === 0) return undefined;
  const decoded = decodeName(field);
  const sent = decoded.ok ? decoded.text : escapeForLog(field);
  const separator = sent.lastIndexOf(';');
  return { sent, address: separator < 0 ? sent : sent.slice(0, separator) };
}

/** A request refused before any lookup, by saslauthd's own rules; each protocol says it in its own words, and both log the code. */
export type EarlyRefusal = typeof ErrorCodes.FIELD_TOO_LONG | typeof ErrorCodes.NULL_LOGIN | typeof ErrorCodes.NULL_PASSWORD;

/**
 * saslauthd's checks, made before any mechanism runs: a field longer than
 * saslauthd reads, an empty login, an empty password. Service and realm may
 * be empty. The mux decoder stops at an over-long field before buffering it;
 * the same limit holds for names that arrive inside another protocol.
 */
export function refusalBeforeAuthentication(fields: { readonly login: Buffer; readonly password: Secret; readonly token?: TokenMechanism; readonly service: Buffer; readonly realm: Buffer }): EarlyRefusal | undefined {
  const { login, password, service, realm } = fields;
  // A bearer token is longer than any password: sasl-token.ts bounds it.
  const secretLimit = fields.token === undefined ? MAX_FIELD_LENGTH : MAX_TOKEN_BYTES;
  if (login.length > MAX_FIELD_LENGTH || password.byteLength > secretLimit || service.length > MAX_FIELD_LENGTH || realm.length > MAX_FIELD_LENGTH) return ErrorCodes.FIELD_TOO_LONG;
  if (login.length === 0) return ErrorCodes.NULL_LOGIN;
  if (password.byteLength === 0) return ErrorCodes.NULL_PASSWORD;
  return undefined;
}

/** Refusals are logged with their code only: what was sent stays out of the log. */
export const EARLY_REFUSAL_MESSAGE = 'request refused before authentication';
