/**
 * -a mysql: the lookup configured in the native config file, on a pool of
 * connections to one or more hosts.
 */
import type { Logger } from 'pino';
import type { Backend, LookupQuery, LookupResult, StoredSample } from '../backend.js';
import { MysqlHosts } from './hosts.js';
import { MysqlLookup } from './mysql-lookup.js';
import type { MysqlBackendSettings } from './settings.js';

export class MysqlBackend implements Backend {
  readonly mechanism = 'mysql';
  readonly #hosts: MysqlHosts;
  readonly #lookup: MysqlLookup;

  constructor(settings: MysqlBackendSettings, log: Logger) {
    for (const warning of settings.warnings ?? []) log.warn(warning);
    this.#hosts = new MysqlHosts(settings.connection, log);
    this.#lookup = new MysqlLookup(settings, this.#hosts);
  }

  lookup(query: LookupQuery): Promise<LookupResult> {
    return this.#lookup.lookup(query);
  }

  sampleStoredValues(): Promise<StoredSample> {
    return this.#lookup.sample();
  }

  /** Nothing to watch: the configuration is read again on SIGHUP. */
  watch(): void {}

  close(): Promise<void> {
    return this.#hosts.close();
  }
}
