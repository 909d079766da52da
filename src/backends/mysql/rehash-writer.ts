/**
 * Re-hashing's database side: the configured UPDATE, on connections of the
 * writer account (the lookup's account only reads), with the same hosts,
 * TLS and deadlines as the lookup. The statement writes only over the value
 * the login matched, so a password changed meanwhile is never overwritten.
 */
import type { Logger } from 'pino';
import type { StoredValueRewriter } from '../backend.js';
import { MysqlHosts } from './hosts.js';
import type { ConnectionSettings, RehashSettings } from './settings.js';

/** Re-hashes are rare and never urgent: two connections per host are plenty. */
const WRITER_POOL_SIZE = 2;

export class MysqlRehashWriter implements StoredValueRewriter {
  readonly to: string;
  readonly cost: number | undefined;
  readonly #hosts: MysqlHosts;
  readonly #query: string;

  constructor(settings: RehashSettings, connection: ConnectionSettings, log: Logger) {
    this.to = settings.to;
    this.cost = settings.cost;
    this.#query = settings.query;
    this.#hosts = new MysqlHosts(Object.assign({}, connection, { user: settings.user, password: settings.password, poolSize: WRITER_POOL_SIZE }), log.child({ account: 'rehash' }));
  }

  /** Throws QueryFailure when the database refuses or cannot be reached. */
  async replace(user: string, value: string, old: string): Promise<'written' | 'row-changed'> {
    const result = (await this.#hosts.query(this.#query, [value, user, old])) as unknown as { readonly affectedRows?: number };
    return (result.affectedRows ?? 0) > 0 ? 'written' : 'row-changed';
  }

  close(): Promise<void> {
    return this.#hosts.close();
  }
}
