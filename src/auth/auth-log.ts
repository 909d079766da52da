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
  };

const PREFIX: Record<AuthResult, string> = {
  success: 'auth success',
  failure: 'auth failure',
  'temporary-failure': 'auth temporary failure',
};

export function formatAuthMessage(event: AuthEvent): string {
  const remote = event.remote === undefined ? '' : ` [remote=${event.remote}]`;
  const reason = event.result === 'success' ? '' : ` [reason=${event.reason ?? 'unknown'}]`;
  return `${PREFIX[event.result]}: [user=${event.user}] [service=${event.service}] [realm=${event.realm}]${remote} [mech=${event.mech}]${reason}`;
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
