/**
 * One configured lookup against one set of hosts: the SQL prepared once from
 * the settings, run per login, and what its rows mean. Database trouble is
 * "unavailable" (a temporary failure), never a wrong password. -a mysql has
 * one of these; -a pam one per PAM service.
 */
import type { LookupQuery, LookupResult, StoredSample } from '../backend.js';
import { QueryFailure, type MysqlHosts } from './hosts.js';
import { LookupBatcher, type LookupBatchOptions } from './lookup-batch.js';
import { batchColumnSql, prepareColumnLookup, prepareQueryLookup, sampleColumnSql, type PreparedLookup } from './lookup-sql.js';
import { LookupFailures } from './query-failure.js';
import { DEFAULT_MAX_CANDIDATES, interpretQueryRows, interpretRows, rowsByName, storedValues } from './rows.js';
import type { ColumnLookup, ConnectionSettings, PlainLookupSettings } from './settings.js';

/**
 * Names one statement asks for at most. Each count is its own prepared
 * statement on every connection, so this also bounds how many the server keeps.
 */
export const MAX_BATCH = 32;

/**
 * How many names a batched statement asks for when `count` logins share it: the
 * next power of two (at most MAX_BATCH), the last name repeated to fill it. Each
 * size is a prepared statement on every connection, with its column and
 * parameter descriptions kept in the daemon and in the server: five sizes (2 to
 * 32), not thirty-one. A name asked twice is one row set (IN is a set); its
 * repeats' flag columns are not read.
 */
export function batchSize(count: number): number {
  return Math.min(MAX_BATCH, 2 ** Math.ceil(Math.log2(count)));
}

/**
 * A statement out this long stops holding the next one back (lookup-batch.ts):
 * longer than a lookup on a healthy local network takes, short enough that a
 * login waiting behind a slow one hardly notices.
 */
const STALL_AFTER_MS = 2;

/**
 * While lookups keep arriving, a login waits at most this long for others to
 * share its statement (lookup-batch.ts): enough for a busy daemon to gather a
 * dozen or more, too short for a mail client to notice.
 */
const GATHER_MS = 1;

/**
 * A turn of the event loop this long answered logins of its own (lookup-batch.ts):
 * with -c most repeat logins need no lookup, so the wrong passwords' lookups
 * arrive a few turns apart, and gathering them while the loop is busy
 * saves a statement each. An idle turn takes a few microseconds.
 */
const BUSY_TURN_MS = 0.05;

/**
 * How the batches are bounded: as many statements as the pool has
 * connections; as many waiting logins as those statements can carry at once;
 * and a login waits for its turn no longer than it would for a free
 * connection (connect_timeout). Either refusal is a busy database to the
 * login: a temporary failure, never a "no".
 */
function batchLimits(connection: ConnectionSettings): LookupBatchOptions {
  const maxQueue = connection.poolSize * MAX_BATCH;
  return {
    maxInFlight: connection.poolSize,
    maxBatch: MAX_BATCH,
    stallAfterMs: STALL_AFTER_MS,
    gatherMs: GATHER_MS,
    busyTurnMs: BUSY_TURN_MS,
    maxQueue,
    maxWaitMs: connection.connectTimeoutMs,
    queueFull: () => new QueryFailure('busy', 'lookups', 'LOOKUP_QUEUE_FULL', `${maxQueue} logins already waiting for a lookup (pool_size x ${MAX_BATCH})`),
    waitedTooLong: () => new QueryFailure('busy', 'lookups', 'LOOKUP_WAIT', `no lookup statement could go out within ${connection.connectTimeoutMs} ms (connect_timeout)`),
    // A statement's own error may be one name's (query-failure.ts): the others are asked again alone. A database gone is everyone's.
    retrySingly: (error) => error instanceof QueryFailure && error.kind === 'sql',
  };
}

export class MysqlLookup {
  readonly #hosts: MysqlHosts;
  readonly #prepared: PreparedLookup;
  readonly #scheme: Pick<LookupResult, 'defaultScheme'>;
  /** Reads a sample of stored values; undefined for a password_query, which needs a user to run. */
  readonly #sampleSql: string | undefined;

  readonly #maxCandidates: number;
  /**
   * Column lookups of logins that arrive together go out as one statement
   * (lookup-batch.ts). A password_query is the administrator's own SQL and is
   * always asked one login at a time.
   */
  readonly #batcher: LookupBatcher | undefined;
  /** The batched statement's text, by how many names it asks for (batchSize). */
  readonly #batchSql: string[] = [];
  /** A lookup statement has answered: its text is sound, and an error comparing a name is that name's (query-failure.ts). */
  #answeredBefore = false;
  readonly #failures = new LookupFailures();

  constructor(settings: PlainLookupSettings, hosts: MysqlHosts) {
    this.#hosts = hosts;
    this.#maxCandidates = settings.maxCandidates ?? DEFAULT_MAX_CANDIDATES;
    const { lookup } = settings;
    this.#prepared = lookup.kind === 'columns' ? prepareColumnLookup(lookup) : prepareQueryLookup(lookup);
    this.#sampleSql = lookup.kind === 'columns' ? sampleColumnSql(lookup) : undefined;
    this.#scheme = settings.defaultScheme === undefined ? {} : { defaultScheme: settings.defaultScheme };
    this.#batcher =
      lookup.kind === 'columns'
        ? new LookupBatcher((names) => this.#askColumns(lookup, names), batchLimits(settings.connection))
        : undefined;
  }

  /** Up to SAMPLE_ROWS stored values of the table (none for a password_query). */
  async sample(): Promise<StoredSample> {
    if (this.#sampleSql === undefined) return { values: [], ...this.#scheme };
    const rows = await this.#hosts.query(this.#sampleSql, []);
    return { values: storedValues(rows), ...this.#scheme };
  }

  async lookup(query: LookupQuery): Promise<LookupResult> {
    const known = this.#failures.known(query.user);
    if (known) return Object.assign({}, known, this.#scheme);
    const prepared = this.#prepared;
    let found: LookupResult;
    try {
      if (this.#batcher) {
        found = interpretRows(await this.#batcher.lookup(query.user), prepared.hasStatus, prepared.nameColumn);
      } else {
        const { rows, columns } = await this.#hosts.queryWithColumns(prepared.sql, prepared.params({ user: query.user, service: query.service }));
        found = interpretQueryRows(rows, columns, this.#maxCandidates);
      }
      this.#answeredBefore = true;
    } catch (error) {
      return Object.assign({}, this.#failures.of(error, query.user, this.#answeredBefore), this.#scheme);
    }
    return Object.assign({}, found, this.#scheme);
  }

  /** One statement for these names: the one-name statement for one, the batched one for more. */
  async #askColumns(lookup: ColumnLookup, names: readonly string[]): Promise<unknown[][][]> {
    if (names.length === 1) return [await this.#hosts.query(this.#prepared.sql, [names[0]!])];
    const size = batchSize(names.length);
    const sql = (this.#batchSql[size] ??= batchColumnSql(lookup, size));
    const asked = names.length === size ? names : [...names, ...Array<string>(size - names.length).fill(names.at(-1)!)];
    const rows = await this.#hosts.query(sql, [...asked, ...asked]);
    // The name flags follow the row's own name column (lookup-sql.ts).
    return rowsByName(rows, names.length, this.#prepared.nameColumn! + 1);
  }
}
