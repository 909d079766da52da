/**
 * -a mysql: the lookup configured in the native config file (a table, a
 * password_query, or PostfixAdmin's preset), on a pool of connections to one
 * or more hosts; and, when configured, the writer that re-hashes on login.
 */
import type { Logger } from 'pino';
import type { Backend, LookupQuery, LookupResult, StoredSample } from '../backend.js';
import { MysqlHosts } from './hosts.js';
import { sampleColumnSql } from './lookup-sql.js';
import { MysqlLookup } from './mysql-lookup.js';
import { PostfixAdminLookupRunner } from './postfixadmin-lookup.js';
import { MysqlRehashWriter } from './rehash-writer.js';
import { DEFAULT_MAX_CANDIDATES, storedValues } from './rows.js';
import type { MysqlBackendSettings } from './settings.js';

export class MysqlBackend implements Backend {
  readonly mechanism = 'mysql';
  readonly rewriter?: MysqlRehashWriter;
  readonly #hosts: MysqlHosts;
  readonly #lookup: Pick<MysqlLookup, 'lookup' | 'sample'>;

  constructor(settings: MysqlBackendSettings, log: Logger) {
    for (const warning of settings.warnings ?? []) log.warn(warning);
    this.#hosts = new MysqlHosts(settings.connection, log);
    const { lookup } = settings;
    if (lookup.kind === 'postfixadmin') {
      const runner = new PostfixAdminLookupRunner(lookup, settings.maxCandidates ?? DEFAULT_MAX_CANDIDATES, this.#hosts, log);
      runner.start();
      const sampleSql = sampleColumnSql({ kind: 'columns', table: 'mailbox', userColumn: 'username', passwordColumn: 'password' });
      this.#lookup = {
        lookup: (query) => runner.lookup(query),
        sample: async () => ({ values: storedValues(await this.#hosts.query(sampleSql, [])) }),
      };
    } else {
      this.#lookup = new MysqlLookup(Object.assign({}, settings, { lookup }), this.#hosts);
    }
    if (settings.rehash) this.rewriter = new MysqlRehashWriter(settings.rehash, settings.connection, log);
  }

  lookup(query: LookupQuery): Promise<LookupResult> {
    return this.#lookup.lookup(query);
  }

  sampleStoredValues(): Promise<StoredSample> {
    return this.#lookup.sample();
  }

  /** Nothing to watch: the configuration is read again on SIGHUP. */
  watch(): void {}

  async close(): Promise<void> {
    await Promise.all([this.#hosts.close(), this.rewriter?.close()]);
  }
}

