/**
 * -a pam, the drop-in: like saslauthd -a pam, the request's service names the
 * PAM service file (/etc/pam.d/<service>). Its pam_mysql.so lines are read
 * and carried out in-process on pooled connections. Files are re-read when
 * they change (checked at most once a second per service); services with the
 * same connection settings share one pool, and a pool no service uses any
 * more (its file now points elsewhere, or is broken) is closed.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Backend, LookupQuery, LookupResult } from '../backend.js';
import { ErrorCodes } from '../../errors.js';
import { MysqlHosts } from '../mysql/hosts.js';
import { MysqlLookup } from '../mysql/mysql-lookup.js';
import type { ConnectionTuning } from '../mysql/native-config.js';
import { connectionKey } from '../mysql/settings.js';
import { findPamMysqlLines } from './pam-file.js';
import { pamMysqlSettings } from './pam-mysql-options.js';

/** A PAM service name is a file name in the PAM directory: no slashes, no dot-dot, nothing odd. */
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RECHECK_MS = 1000;

type ServiceState =
  /** `pool` names the shared pool the lookup runs on. */
  | { readonly usable: true; readonly lookup: MysqlLookup; readonly pool: string }
  | { readonly usable: false; readonly reason: string };

/** A connection pool and the services whose lookups run on it. */
interface SharedPool {
  readonly hosts: MysqlHosts;
  readonly services: Set<string>;
}

interface CachedService {
  readonly state: ServiceState;
  /** Identity of every file the state was built from. */
  readonly identity: string;
  readonly files: readonly string[];
  checkedAt: number;
}

function identityOf(files: readonly string[]): string {
  return files
    .map((file) => {
      try {
        const stats = statSync(file);
        return `${file}:${stats.ino}:${stats.size}:${stats.mtimeMs}`;
      } catch {
        return `${file}:missing`;
      }
    })
    .join('|');
}

export interface PamBackendOptions {
  readonly pamDir: string;
  readonly tuning: ConnectionTuning;
  readonly logger: Logger;
}

export class PamBackend implements Backend {
  readonly mechanism = 'pam';
  readonly #options: PamBackendOptions;
  readonly #services = new Map<string, CachedService>();
  readonly #pools = new Map<string, SharedPool>();

  constructor(options: PamBackendOptions) {
    this.#options = options;
  }

  async lookup(query: LookupQuery): Promise<LookupResult> {
    if (!SERVICE_NAME.test(query.service)) {
      return { status: 'refused', code: ErrorCodes.PAM_CONFIG, reason: `service "${query.service}" cannot name a PAM service file` };
    }
    const state = this.#service(query.service);
    if (!state.usable) return { status: 'refused', code: ErrorCodes.PAM_CONFIG, reason: state.reason };
    return state.lookup.lookup(query);
  }

  /** Nothing to start: each service's file is checked when a login for it arrives. */
  watch(): void {}

  /** Pools currently open (one per distinct connection setting in use). */
  get poolCount(): number {
    return this.#pools.size;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((pool) => pool.hosts.close()));
    this.#pools.clear();
    this.#services.clear();
  }

  #service(service: string): ServiceState {
    const now = Date.now();
    const cached = this.#services.get(service);
    if (cached && now - cached.checkedAt < RECHECK_MS) return cached.state;
    if (cached && identityOf(cached.files) === cached.identity) {
      cached.checkedAt = now;
      return cached.state;
    }
    const loaded = this.#load(service);
    this.#services.set(service, { ...loaded, checkedAt: now });
    if (cached?.state.usable) this.#release(cached.state.pool, service);
    return loaded.state;
  }

  #load(service: string): { state: ServiceState; identity: string; files: string[] } {
    const log = this.#options.logger;
    const file = path.join(this.#options.pamDir, service);
    const files = [file];
    const read = (name: string) => {
      if (!files.includes(name)) files.push(name);
      return statSync(name).isFile() ? readFileSync(name, 'utf8') : '';
    };
    let state: ServiceState;
    try {
      const lines = findPamMysqlLines(file, read);
      const outcome = pamMysqlSettings(lines, this.#options.tuning, read);
      if (!outcome.ok) {
        state = { usable: false, reason: `${file}: ${outcome.reason}` };
      } else {
        for (const warning of outcome.warnings) log.warn({ service, file }, `pam_mysql option ${warning}`);
        const pool = connectionKey(outcome.settings.connection);
        const { connection, lookup } = outcome.settings;
        state = { usable: true, lookup: new MysqlLookup(outcome.settings, this.#acquire(pool, service, () => new MysqlHosts(connection, log))), pool };
        log.info(
          { service, file, hosts: connection.hosts, database: connection.database, user: connection.user, table: lookup.kind === 'columns' ? lookup.table : undefined, defaultScheme: outcome.settings.defaultScheme },
          'PAM service loaded',
        );
      }
    } catch (error) {
      const { code, path: missing } = error as NodeJS.ErrnoException;
      state = { usable: false, reason: code === 'ENOENT' ? `${missing ?? file}: no such file` : `${file}: ${(error as Error).message}` };
    }
    if (!state.usable) log.error({ service, code: ErrorCodes.PAM_CONFIG, reason: state.reason }, 'PAM service not usable; its logins are refused');
    return { state, identity: identityOf(files), files };
  }

  /** The pool for these connection settings, shared, and marked as used by `service`. */
  #acquire(key: string, service: string, open: () => MysqlHosts): MysqlHosts {
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = { hosts: open(), services: new Set() };
      this.#pools.set(key, pool);
    }
    pool.services.add(service);
    return pool.hosts;
  }

  /** `service` no longer uses this pool; the last one out closes it. */
  #release(key: string, service: string): void {
    const current = this.#services.get(service)?.state;
    if (current?.usable && current.pool === key) return;
    const pool = this.#pools.get(key);
    if (!pool) return;
    pool.services.delete(service);
    if (pool.services.size > 0) return;
    this.#pools.delete(key);
    // A lookup still running on it may fail: a temporary failure, never a wrong password.
    pool.hosts.close().catch((error: unknown) => this.#options.logger.warn({ error: (error as Error).message }, 'closing an unused connection pool failed'));
  }
}
