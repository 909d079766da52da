/**
 * One configured lookup against one set of hosts: runs the prepared
 * statement and says what it found. Database trouble is "unavailable"
 * (a temporary failure), never a wrong password.
 */
import type { LookupQuery, LookupResult } from '../backend.js';
import { ErrorCodes } from '../../errors.js';
import type { DefaultScheme } from '../../crypt/default-scheme.js';
import { QueryFailure, type MysqlHosts } from './hosts.js';
import type { PreparedLookup } from './lookup-sql.js';
import { interpretRows } from './rows.js';

export async function runLookup(hosts: MysqlHosts, prepared: PreparedLookup, query: LookupQuery, defaultScheme: DefaultScheme | undefined): Promise<LookupResult> {
  const scheme = defaultScheme === undefined ? {} : { defaultScheme };
  let rows: unknown[][];
  try {
    rows = await hosts.query(prepared.sql, prepared.params({ user: query.user, service: query.service }));
  } catch (error) {
    const failure = error instanceof QueryFailure ? error : undefined;
    const where = failure ? ` (${failure.host}${failure.code ? `, ${failure.code}` : ''})` : '';
    const reason = `${failure?.kind === 'sql' ? 'query failed' : 'database unreachable'}${where}: ${(error as Error).message}`;
    return { status: 'unavailable', code: failure?.kind === 'sql' ? ErrorCodes.BACKEND_QUERY : ErrorCodes.BACKEND_UNAVAILABLE, reason, ...scheme };
  }
  return { ...interpretRows(rows, prepared.hasStatus), ...scheme };
}
