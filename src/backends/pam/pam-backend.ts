/**
 * -a pam, the drop-in: like saslauthd -a pam, the request's service names the
 * PAM service file (/etc/pam.d/<service>). Its pam_mysql.so lines are read
 * and carried out in-process on pooled connections. Files are re-read when
 * they change (checked at most once a second per service); services with the
 * same connection settings share one pool.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Backend, LookupQuery, LookupResult } from '../backend.js';
import { ErrorCodes } from '../../errors.js';
import { MysqlHosts } from '../mysql/hosts.js';
import { prepareLookup } from '../mysql/mysql-backend.js';
import { runLookup } from '../mysql/mysql-lookup.js';
import type { ConnectionTuning } from '../mysql/native-config.js';
import type { PreparedLookup } from '../mysql/lookup-sql.js';
import { connectionKey, type MysqlBackendSettings } from '../mysql/settings.js';
import { findPamMysqlLines } from './pam-file.js';
import { pamMysqlSettings } from './pam-mysql-options.js';

/** A PAM service name is a file name in the PAM directory: no slashes, no dot-dot, nothing odd. */
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RECHECK_MS = 1000;

type ServiceState =
  | { readonly usable: true; readonly settings: MysqlBackendSettings; readonly prepared: PreparedLookup; readonly hosts: MysqlHosts }
  | { readonly usable: false; readonly reason: string };

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
  readonly #pools = new Map<string, MysqlHosts>();

  constructor(options: PamBackendOptions) {
    this.#options = options;
  }

  async lookup(query: LookupQuery): Promise<LookupResult> {
    if (!SERVICE_NAME.test(query.service)) {
      return { status: 'refused', code: ErrorCodes.PAM_CONFIG, reason: `service "${query.service}" cannot name a PAM service file` };
    }
    const state = this.#service(query.service);
    if (!state.usable) return { status: 'refused', code: ErrorCodes.PAM_CONFIG, reason: state.reason };
    return runLookup(state.hosts, state.prepared, query, state.settings.defaultScheme);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((pool) => pool.close()));
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
        const key = connectionKey(outcome.settings.connection);
        let hosts = this.#pools.get(key);
        if (!hosts) {
          hosts = new MysqlHosts(outcome.settings.connection, log);
          this.#pools.set(key, hosts);
        }
        const { connection, lookup } = outcome.settings;
        state = { usable: true, settings: outcome.settings, prepared: prepareLookup(outcome.settings), hosts };
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
}
