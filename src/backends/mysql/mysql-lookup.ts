/**
 * One configured lookup against one set of hosts: the SQL prepared once from
 * the settings, run per login, and what its rows mean. Database trouble is
 * "unavailable" (a temporary failure), never a wrong password. -a mysql has
 * one of these; -a pam one per PAM service.
 */
import type { LookupQuery, LookupResult } from '../backend.js';
import { ErrorCodes } from '../../errors.js';
import { QueryFailure, type MysqlHosts } from './hosts.js';
import { prepareColumnLookup, prepareQueryLookup, type PreparedLookup } from './lookup-sql.js';
import { interpretRows } from './rows.js';
import type { MysqlBackendSettings } from './settings.js';

export class MysqlLookup {
  readonly #hosts: MysqlHosts;
  readonly #prepared: PreparedLookup;
  readonly #scheme: Pick<LookupResult, 'defaultScheme'>;

  constructor(settings: MysqlBackendSettings, hosts: MysqlHosts) {
    this.#hosts = hosts;
    this.#prepared = settings.lookup.kind === 'columns' ? prepareColumnLookup(settings.lookup) : prepareQueryLookup(settings.lookup);
    this.#scheme = settings.defaultScheme === undefined ? {} : { defaultScheme: settings.defaultScheme };
  }

  async lookup(query: LookupQuery): Promise<LookupResult> {
    const prepared = this.#prepared;
    let rows: unknown[][];
    try {
      rows = await this.#hosts.query(prepared.sql, prepared.params({ user: query.user, service: query.service }));
    } catch (error) {
      const failure = error instanceof QueryFailure ? error : undefined;
      const where = failure ? ` (${failure.host}${failure.code ? `, ${failure.code}` : ''})` : '';
      const reason = `${failure?.kind === 'sql' ? 'query failed' : 'database unreachable'}${where}: ${(error as Error).message}`;
      return { status: 'unavailable', code: failure?.kind === 'sql' ? ErrorCodes.BACKEND_QUERY : ErrorCodes.BACKEND_UNAVAILABLE, reason, ...this.#scheme };
    }
    return { ...interpretRows(rows, prepared.hasStatus), ...this.#scheme };
  }
}
