/** A failed lookup statement as the login sees it: database trouble is a temporary failure, never a "no". */
import type { LookupResult } from '../backend.js';
import { ErrorCodes } from '../../errors.js';
import { growingLru } from '../../common/growing-lru.js';
import { QueryFailure } from './hosts.js';

/** The server is there and refuses the daemon's account: a configuration to fix, not an outage to wait out. */
const LOGIN_REFUSED = new Set(['ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR']);

export function unavailable(error: unknown): LookupResult {
  const failure = error instanceof QueryFailure ? error : undefined;
  const where = failure ? ` (${failure.host}${failure.code ? `, ${failure.code}` : ''})` : '';
  if (failure && LOGIN_REFUSED.has(failure.code ?? '')) {
    return { status: 'unavailable', code: ErrorCodes.BACKEND_LOGIN, reason: `the database refused the daemon's account${where}: ${failure.message}; check user and password (or the grant)` };
  }
  const kind = failure?.kind;
  const reason = `${kind === 'sql' ? 'query failed' : kind === 'busy' ? 'no free database connection' : 'database unreachable'}${where}: ${(error as Error).message}`;
  const code = kind === 'sql' ? ErrorCodes.BACKEND_QUERY : kind === 'busy' ? ErrorCodes.BACKEND_BUSY : ErrorCodes.BACKEND_UNAVAILABLE;
  return { status: 'unavailable', code, reason };
}

/** The server cannot compare the name with the column: text in character sets that cannot meet (MariaDB's and MySQL's codes). */
const CANNOT_COMPARE = new Set(['ER_CANT_AGGREGATE_2COLLATIONS', 'ER_CANT_AGGREGATE_3COLLATIONS', 'ER_CANT_AGGREGATE_NCOLLATIONS', 'ER_CANNOT_CONVERT_STRING']);

const NO_ROW_CAN_HOLD_IT: LookupResult = Object.freeze({ status: 'refused', code: ErrorCodes.UNKNOWN_USER, reason: "no such user: the name has characters the user column's character set cannot hold" });

/** How many such names are remembered, and for how long (a table converted to another character set is seen after it, or at a reload). */
const REMEMBERED_NAMES = 10_000;
const REMEMBERED_MS = 60_000;

/**
 * Failed lookups as the login sees them. One case is no failure at all: a
 * name with characters the user column's character set cannot hold (a latin1
 * column asked for "łukasz") makes the server refuse the comparison, and no
 * row can have that name, so it is an unknown user, counted and answered as
 * one. Only when the statement has answered before (so its own text is
 * sound) and the name is not plain ASCII (which every character set holds):
 * otherwise the query itself is at fault, a temporary failure the log
 * explains. Such a name is remembered for a while and not asked again: each
 * asking costs a statement, and a guesser repeating it would make the
 * database do that work for nothing.
 */
export class LookupFailures {
  readonly #cannotHold = growingLru<string, true>(REMEMBERED_NAMES, { ttl: REMEMBERED_MS });

  /** The answer for a name known to be one no row can hold, without asking. */
  known(name: string): LookupResult | undefined {
    return this.#cannotHold.has(name) ? NO_ROW_CAN_HOLD_IT : undefined;
  }

  of(error: unknown, name: string, answeredBefore: boolean): LookupResult {
    const cannotCompare = error instanceof QueryFailure && error.kind === 'sql' && CANNOT_COMPARE.has(error.code ?? '');
    if (!cannotCompare || !answeredBefore || /^[\u0000-\u007f]*$/.test(name)) return unavailable(error);
    this.#cannotHold.set(name, true);
    return NO_ROW_CAN_HOLD_IT;
  }
}
