/**
 * -a mysql: the lookup configured in the native config file, on a pool of
 * connections to one or more hosts.
 */
import type { Logger } from 'pino';
import type { Backend, LookupQuery, LookupResult } from '../backend.js';
import { MysqlHosts } from './hosts.js';
import { prepareColumnLookup, prepareQueryLookup, type PreparedLookup } from './lookup-sql.js';
import { runLookup } from './mysql-lookup.js';
import type { MysqlBackendSettings } from './settings.js';

export function prepareLookup(settings: MysqlBackendSettings): PreparedLookup {
  return settings.lookup.kind === 'columns' ? prepareColumnLookup(settings.lookup) : prepareQueryLookup(settings.lookup);
}

export class MysqlBackend implements Backend {
  readonly mechanism = 'mysql';
  readonly #settings: MysqlBackendSettings;
  readonly #hosts: MysqlHosts;
  readonly #prepared: PreparedLookup;

  constructor(settings: MysqlBackendSettings, log: Logger) {
    this.#settings = settings;
    this.#prepared = prepareLookup(settings);
    this.#hosts = new MysqlHosts(settings.connection, log);
  }

  lookup(query: LookupQuery): Promise<LookupResult> {
    return runLookup(this.#hosts, this.#prepared, query, this.#settings.defaultScheme);
  }

  close(): Promise<void> {
    return this.#hosts.close();
  }
}
