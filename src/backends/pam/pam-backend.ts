/**
 * -a pam, the drop-in: like saslauthd -a pam, the request's service names the
 * PAM service file (/etc/pam.d/<service>). Its pam_mysql.so lines are read
 * and carried out in-process on pooled connections. Files are re-read when
 * they change (checked at most once a second per service); services with the
 * same connection settings share one pool, and a pool no service uses any
 * more (its file now points elsewhere, or is broken) is closed.
 *
 * The service name comes from the client, so everything kept per name is
 * bounded: usable services and unusable names live in separate LRU tables
 * (a flood of made-up names cannot push out smtp), and the line for a name
 * with no file at all is logged at most once per interval, with a count.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { LRUCache } from 'lru-cache';
import { growingLru } from '../../common/growing-lru.js';
import type { Logger } from 'pino';
import type { Backend, LookupQuery, LookupResult } from '../backend.js';
import { ErrorCodes } from '../../errors.js';
import { exposedSecretWarning } from '../../common/exposed-file.js';
import { MysqlHosts } from '../mysql/hosts.js';
import { MysqlLookup } from '../mysql/mysql-lookup.js';
import type { ConnectionTuning } from '../mysql/native-config.js';
import { connectionKey } from '../mysql/settings.js';
import { couldDeny, couldGrant, findPamMysqlLines, PamFileError, type OtherModuleLine } from './pam-file.js';
import { pamMysqlSettings } from './pam-mysql-options.js';

/** A PAM service name is a file name in the PAM directory: no slashes, no dot-dot, nothing odd. */
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RECHECK_MS = 1000;
/** Real hosts use a handful of services (smtp, imap, pop3, sieve...). */
const MAX_USABLE_SERVICES = 64;
/** Names that found no usable file: remembered so a repeat costs no file system work, but only so many. */
const MAX_UNUSABLE_NAMES = 256;
/** A name with no PAM file is logged at most this often; the names in between are counted. */
const MISSING_LOG_INTERVAL_MS = 10_000;

type ServiceState =
  /** `pool` names the shared pool the lookup runs on. */
  | { readonly usable: true; readonly lookup: MysqlLookup; readonly pool: string }
  /** `missing`: no file at all for the name (a service nobody configured), not a broken one. */
  | { readonly usable: false; readonly reason: string; readonly missing?: true };

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
  /** Modules (pam_listfile.so, ...) the administrator accepts the daemon will not run (--pam-ignore-modules). */
  readonly ignoreModules?: readonly string[];
}

export class PamBackend implements Backend {
  readonly mechanism = 'pam';
  readonly #options: PamBackendOptions;
  readonly #usable: LRUCache<string, CachedService>;
  readonly #unusable = growingLru<string, CachedService>(MAX_UNUSABLE_NAMES);
  readonly #pools = new Map<string, SharedPool>();
  #missing = { lastLoggedAt: -Infinity, suppressed: 0 };

  constructor(options: PamBackendOptions) {
    this.#options = options;
    this.#usable = growingLru<string, CachedService>(MAX_USABLE_SERVICES, {
      // Pushed out by more services than the table holds: its pool goes when nothing else uses it.
      dispose: (entry, service, reason) => {
        if (reason === 'evict' && entry.state.usable) this.#release(entry.state.pool, service);
      },
    });
  }

  async lookup(query: LookupQuery): Promise<LookupResult> {
    if (!SERVICE_NAME.test(query.service)) {
      return { status: 'refused', code: ErrorCodes.INVALID_SERVICE, reason: `service "${query.service}" cannot name a PAM service file` };
    }
    const state = this.#service(query.service);
    // No file for the service: Linux-PAM would fall back to "other", which denies. A file that is there but unusable is ours to fix.
    if (!state.usable) return state.missing ? { status: 'refused', code: ErrorCodes.PAM_NO_SERVICE, reason: state.reason } : { status: 'misconfigured', code: ErrorCodes.PAM_CONFIG, reason: state.reason };
    return state.lookup.lookup(query);
  }

  /** Nothing to start: each service's file is checked when a login for it arrives. */
  watch(): void {}

  /** Pools currently open (one per distinct connection setting in use). */
  get poolCount(): number {
    return this.#pools.size;
  }

  /** Service names remembered, usable or not. */
  get serviceCount(): number {
    return this.#usable.size + this.#unusable.size;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((pool) => pool.hosts.close()));
    this.#pools.clear();
    this.#usable.clear();
    this.#unusable.clear();
  }

  #service(service: string): ServiceState {
    const now = Date.now();
    const cached = this.#usable.get(service) ?? this.#unusable.get(service);
    if (cached && now - cached.checkedAt < RECHECK_MS) return cached.state;
    if (cached && identityOf(cached.files) === cached.identity) {
      cached.checkedAt = now;
      return cached.state;
    }
    const loaded = this.#load(service);
    const entry = Object.assign({}, loaded, { checkedAt: now });
    if (loaded.state.usable) {
      this.#unusable.delete(service);
      this.#usable.set(service, entry);
    } else {
      this.#usable.delete(service);
      this.#unusable.set(service, entry);
    }
    const before = cached?.state;
    if (before?.usable && !(loaded.state.usable && loaded.state.pool === before.pool)) this.#release(before.pool, service);
    return loaded.state;
  }

  #load(service: string): { state: ServiceState; identity: string; files: string[] } {
    const log = this.#options.logger;
    const file = path.join(this.#options.pamDir, service);
    const files = [file];
    const read = (name: string) => {
      if (!files.includes(name)) files.push(name);
      const text = statSync(name).isFile() ? readFileSync(name, 'utf8') : '';
      // pam_mysql's passwd= on a PAM line, or users.db_passwd in its config_file.
      const exposed = /(^|\s)passwd=\S|db_passwd\s*=\s*\S/m.test(text) ? exposedSecretWarning(name, 'the database password (pam_mysql passwd=)') : undefined;
      if (exposed) log.warn({ service, file: name }, exposed);
      return text;
    };
    let state: ServiceState;
    try {
      const lines = findPamMysqlLines(file, read);
      const outcome = pamMysqlSettings(lines, this.#options.tuning, read);
      // The pam_mysql line's own problems first: they are the ones to fix before the rest of the stack matters.
      const unevaluated = outcome.ok ? this.#unevaluatedPolicy(lines.others, service) : undefined;
      if (!outcome.ok) {
        state = { usable: false, reason: `${file}: ${outcome.reason}` };
      } else if (unevaluated !== undefined) {
        state = { usable: false, reason: unevaluated };
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
      if (code === 'ENOENT' && (missing ?? file) === file) {
        this.#logMissing(service, file);
        return { state: { usable: false, missing: true, reason: `${file}: no such file` }, identity: identityOf(files), files };
      }
      // A syntax error names its own file and line (an included file's, perhaps).
      state = { usable: false, reason: code === 'ENOENT' ? `${missing ?? file}: no such file` : error instanceof PamFileError ? error.message : `${file}: ${(error as Error).message}` };
    }
    if (!state.usable) log.error({ service, code: ErrorCodes.PAM_CONFIG, reason: state.reason }, 'PAM service not usable: its logins get a temporary failure (Postfix: 454) until the file is fixed');
    return { state, identity: identityOf(files), files };
  }

  /**
   * saslauthd -a pam runs the whole stack; this daemon runs only pam_mysql. A
   * module that could turn a login down (pam_listfile, pam_time, pam_deny as
   * required, requisite or [...=bad/die]) would be a silent policy downgrade, so
   * the service refuses to load unless the administrator lists the module in
   * --pam-ignore-modules. A module that could let a login in on its own
   * (sufficient) only gets a warning: skipping it is stricter, not laxer.
   */
  #unevaluatedPolicy(others: readonly OtherModuleLine[], service: string): string | undefined {
    const ignored = new Set(this.#options.ignoreModules ?? []);
    for (const line of others) {
      if (ignored.has(line.module)) continue;
      if (couldDeny(line.control)) {
        return `${line.origin}: "${line.type} ${line.control} ${line.module}" could turn a login down, and saslauthd-mysql runs only pam_mysql.so; refusing this service rather than skip it (to accept the difference, list the module in --pam-ignore-modules)`;
      }
      if (couldGrant(line.control)) {
        this.#options.logger.warn({ service, origin: line.origin, module: line.module }, `${line.origin}: "${line.type} ${line.control} ${line.module}" could let a login in without pam_mysql; saslauthd-mysql does not run it, so only pam_mysql's answer counts`);
      }
    }
    return undefined;
  }

  /** A service with no file at all: any name a client makes up. Logged at most once an interval, with how many were not. */
  #logMissing(service: string, file: string): void {
    const now = Date.now();
    if (now - this.#missing.lastLoggedAt < MISSING_LOG_INTERVAL_MS) {
      this.#missing.suppressed += 1;
      return;
    }
    const suppressed = this.#missing.suppressed;
    this.#missing = { lastLoggedAt: now, suppressed: 0 };
    this.#options.logger.error(
      { service, code: ErrorCodes.PAM_NO_SERVICE, reason: `${file}: no such file`, ...(suppressed > 0 ? { alsoMissing: suppressed } : {}) },
      `no PAM file for this service: its logins are refused, as Linux-PAM's "other" would${suppressed > 0 ? ` (and ${suppressed} other requests for services with no file since the last such line)` : ''}`,
    );
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
    const pool = this.#pools.get(key);
    if (!pool) return;
    pool.services.delete(service);
    if (pool.services.size > 0) return;
    this.#pools.delete(key);
    // A lookup still running on it may fail: a temporary failure, never a wrong password.
    pool.hosts.close().catch((error: unknown) => this.#options.logger.warn({ error: (error as Error).message }, 'closing an unused connection pool failed'));
  }
}
