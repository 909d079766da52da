/**
 * One configured lookup against one set of hosts: the SQL prepared once from
 * the settings, run per login, and what its rows mean. Database trouble is
 * "unavailable" (a temporary failure), never a wrong password. -a mysql has
 * one of these; -a pam one per PAM service.
 */
import type { LookupQuery, LookupResult, StoredSample } from '../backend.js';
import type { MysqlHosts } from './hosts.js';
import { prepareColumnLookup, prepareQueryLookup, sampleColumnSql, type PreparedLookup } from './lookup-sql.js';
import { unavailable } from './query-failure.js';
import { DEFAULT_MAX_CANDIDATES, interpretQueryRows, interpretRows, storedValues } from './rows.js';
import type { PlainLookupSettings } from './settings.js';

export class MysqlLookup {
  readonly #hosts: MysqlHosts;
  readonly #prepared: PreparedLookup;
  readonly #scheme: Pick<LookupResult, 'defaultScheme'>;
  /** Reads a sample of stored values; undefined for a password_query, which needs a user to run. */
  readonly #sampleSql: string | undefined;

  readonly #maxCandidates: number;

  constructor(settings: PlainLookupSettings, hosts: MysqlHosts) {
    this.#hosts = hosts;
    this.#maxCandidates = settings.maxCandidates ?? DEFAULT_MAX_CANDIDATES;
    this.#prepared = settings.lookup.kind === 'columns' ? prepareColumnLookup(settings.lookup) : prepareQueryLookup(settings.lookup);
    this.#sampleSql = settings.lookup.kind === 'columns' ? sampleColumnSql(settings.lookup) : undefined;
    this.#scheme = settings.defaultScheme === undefined ? {} : { defaultScheme: settings.defaultScheme };
  }

  /** Up to SAMPLE_ROWS stored values of the table (none for a password_query). */
  async sample(): Promise<StoredSample> {
    if (this.#sampleSql === undefined) return { values: [], ...this.#scheme };
    const rows = await this.#hosts.query(this.#sampleSql, []);
    return { values: storedValues(rows), ...this.#scheme };
  }

  async lookup(query: LookupQuery): Promise<LookupResult> {
    const prepared = this.#prepared;
    let rows: unknown[][];
    try {
      rows = await this.#hosts.query(prepared.sql, prepared.params({ user: query.user, service: query.service }));
    } catch (error) {
      return { ...unavailable(error), ...this.#scheme };
    }
    const found = prepared.nameColumn === undefined ? interpretQueryRows(rows, this.#maxCandidates) : interpretRows(rows, prepared.hasStatus, prepared.nameColumn);
    return { ...found, ...this.#scheme };
  }
}
