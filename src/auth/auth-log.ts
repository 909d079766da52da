/**
 * The one log line per authentication. The message keeps saslauthd's shape
 * ("auth failure: [user=..] [service=..] [realm=..] [mech=..] [reason=..]")
 * so existing fail2ban filters and habits carry over; the same facts are also
 * JSON fields for machines. Passwords are never part of an event.
 *
 * Levels follow saslauthd: a failure is always logged (info), a temporary
 * failure is an error, and a success is logged only when asked for (-V, as
 * saslauthd -V; otherwise at debug). The MTA already logs every successful
 * AUTH with the user name (Postfix: sasl_username=), and building a success
 * line is a measurable share of a cached login's cost (docs/BENCHMARKS.md).
 */
import type { Logger } from 'pino';
import type { AuthResult, LoginNames, Outcome } from './outcome.js';

export type { AuthResult } from './outcome.js';

/** One finished login: its names, what was decided, and how long it took. */
export type AuthEvent = LoginNames &
  Outcome & {
    readonly durationMs: number;
    /** How long the throttle held the answer back, when it did. */
    readonly delayMs?: number;
    /** How long the login waited for its turn before its password could be checked, when it waited (Dovecot's policy: the tarpit). */
    readonly waitedMs?: number;
  };

/**
 * The event of a login, its timings added only when they happened. Built along cached
 * transitions: an object literal that starts with a spread makes a new hidden class at every
 * evaluation in Node 20 (eslint.config.mjs).
 */
export function authEvent(names: LoginNames, outcome: Outcome, durationMs: number, delayMs: number, waitedMs = 0): AuthEvent {
  const timing: { durationMs: number; delayMs?: number; waitedMs?: number } = { durationMs };
  if (delayMs > 0) timing.delayMs = delayMs;
  if (waitedMs > 0) timing.waitedMs = waitedMs;
  return Object.assign({}, names, outcome, timing);
}

const PREFIX: Record<AuthResult, string> = {
  success: 'auth success',
  failure: 'auth failure',
  'temporary-failure': 'auth temporary failure',
};

/**
 * What a name may not carry into the bracketed text: the brackets themselves (or
 * "x] [service=imap" would forge a field), line and paragraph separators, and
 * bidi controls that reorder what a reader sees. Control characters never get
 * this far (realm/text.ts refuses them, and escapes refused names as \xHH).
 * The JSON fields carry every name exactly as it was.
 */
const FORGERY = /[\[\]\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
const EVERY_FORGERY = new RegExp(FORGERY.source, 'gu');

/** The text form of a field: anything that could forge a field or a line, escaped as \u{HEX}. */
export function escapeField(text: string): string {
  return FORGERY.test(text) ? text.replace(EVERY_FORGERY, (char) => `\\u{${char.codePointAt(0)!.toString(16)}}`) : text;
}

export function formatAuthMessage(event: AuthEvent): string {
  const remote = event.remote === undefined ? '' : ` [remote=${escapeField(event.remote)}]`;
  const reason = event.result === 'success' ? '' : ` [reason=${escapeField(event.reason ?? 'unknown')}]`;
  return `${PREFIX[event.result]}: [user=${escapeField(event.user)}] [service=${escapeField(event.service)}] [realm=${escapeField(event.realm)}]${remote} [mech=${event.mech}]${reason}`;
}

/** The level of a success line: info with -V, debug otherwise. */
export type SuccessLevel = 'info' | 'debug';

/** The level an outcome is logged at. */
export function authLogLevel(result: AuthResult, successLevel: SuccessLevel = 'debug'): 'error' | 'info' | 'debug' {
  return result === 'temporary-failure' ? 'error' : result === 'success' ? successLevel : 'info';
}

export function logAuthEvent(logger: Logger, event: AuthEvent, successLevel: SuccessLevel = 'debug'): void {
  const level = authLogLevel(event.result, successLevel);
  // Checked first: building the line is most of its cost, and most success lines are not wanted.
  if (!logger.isLevelEnabled(level)) return;
  logger[level]({ event: 'auth', ...event }, formatAuthMessage(event));
}
