/** A failed lookup statement as the login sees it: database trouble is a temporary failure, never a "no". */
import type { LookupResult } from '../backend.js';
import { ErrorCodes } from '../../errors.js';
import { QueryFailure } from './hosts.js';

export function unavailable(error: unknown): LookupResult {
  const failure = error instanceof QueryFailure ? error : undefined;
  const where = failure ? ` (${failure.host}${failure.code ? `, ${failure.code}` : ''})` : '';
  const kind = failure?.kind;
  const reason = `${kind === 'sql' ? 'query failed' : kind === 'busy' ? 'no free database connection' : 'database unreachable'}${where}: ${(error as Error).message}`;
  const code = kind === 'sql' ? ErrorCodes.BACKEND_QUERY : kind === 'busy' ? ErrorCodes.BACKEND_BUSY : ErrorCodes.BACKEND_UNAVAILABLE;
  return { status: 'unavailable', code, reason };
}
