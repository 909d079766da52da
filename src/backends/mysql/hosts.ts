/**
 * Connections to one or more MySQL hosts: a mysql2 pool per host, tried in
 * order. A host that fails at the connection level is skipped until
 * retryAfterMs has passed; when every host is down all are tried again, so
 * the daemon heals by itself the moment a server returns. Every step has a
 * deadline: a stuck server never holds a login for long.
 */
import { createRequire } from 'node:module';
// The callback API: the promise wrapper captures a stack trace on every call, a measurable cost per login.
import type mysql from 'mysql2';
import type { Logger } from 'pino';
import type { ConnectionSettings, HostAddress } from './settings.js';

/**
 * Why a query failed: "sql" errors would fail the same on every host; "busy"
 * means every connection of ours to the host was in use and the wait ran out
 * (the host is up, this daemon is at its pool size); the others are the host's.
 */
/**
 * mysql2 is loaded by the first host list, not with this module: a daemon
 * serving a passwd-file never needs it, and it is one of the largest parts of
 * the daemon's memory at rest (docs/BENCHMARKS.md).
 */
let mysql2: typeof mysql | undefined;
function loadMysql2(): typeof mysql {
  mysql2 ??= createRequire(import.meta.url)('mysql2') as typeof mysql;
  return mysql2;
}

export class QueryFailure extends Error {
  readonly kind: 'connection' | 'timeout' | 'sql' | 'busy';
  readonly host: string;
  readonly code: string | undefined;

  constructor(kind: QueryFailure['kind'], host: string, code: string | undefined, message: string) {
    super(message);
    this.name = 'QueryFailure';
    this.kind = kind;
    this.host = host;
    this.code = code;
  }
}

/** Server errors that say something about the host or the account on it, not about the statement. */
const HOST_LEVEL_SQL_ERRORS = new Set([
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_CON_COUNT_ERROR',
  'ER_HOST_IS_BLOCKED',
  'ER_HOST_NOT_PRIVILEGED',
  'ER_SERVER_SHUTDOWN',
  'ER_NORMAL_SHUTDOWN',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_USER_LIMIT_REACHED',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_QUERY_INTERRUPTED',
  'ER_OPTION_PREVENTS_STATEMENT',
  // 1047: a Galera node that lost quorum (or is still joining) accepts connections but refuses
  // every table read ("WSREP has not yet prepared node for application use"): a down host.
  'ER_UNKNOWN_COM_ERROR',
]);

/** Logins waiting for a connection to one host, at most; more wait no longer than they would have. */
const QUEUE_LIMIT = 200;

/**
 * Prepared statements one connection keeps (mysql2's cache; the least recently used is closed
 * beyond it). The daemon runs a handful of distinct statements: a lookup, its batched sizes
 * (mysql-lookup.ts), a sample, a schema check, a re-hash. mysql2's default (16,000) allocates
 * its cache's tables for all of them when the connection opens: half a megabyte per connection.
 */
const MAX_PREPARED_STATEMENTS = 64;

interface Host {
  readonly label: string;
  readonly pool: mysql.Pool;
  downUntil: number;
  down: boolean;
  /** Connections of ours in use on this host now: at the pool size, a wait for one is not the host's fault. */
  inUse: number;
}

function label(address: HostAddress): string {
  return 'socketPath' in address ? address.socketPath : `${address.host}:${address.port}`;
}

function withDeadline<T>(promise: Promise<T>, ms: number, onLate: (value: T) => void, failure: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      reject(failure());
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        if (expired) onLate(value);
        else resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        if (!expired) reject(error);
      },
    );
  });
}

/** A statement's rows, as arrays of column values, and its columns' names. */
export interface QueryResult {
  readonly rows: unknown[][];
  readonly columns: readonly string[];
}

export class MysqlHosts {
  readonly #settings: ConnectionSettings;
  readonly #log: Logger;
  readonly #hosts: Host[];

  constructor(settings: ConnectionSettings, log: Logger) {
    this.#settings = settings;
    this.#log = log;
    const { createPool } = loadMysql2();
    this.#hosts = settings.hosts.map((address) => ({
      label: label(address),
      downUntil: 0,
      down: false,
      inUse: 0,
      pool: createPool(Object.assign({}, address, {
        user: settings.user,
        password: settings.password,
        database: settings.database,
        charset: 'UTF8MB4_GENERAL_CI',
        connectionLimit: settings.poolSize,
        maxIdle: settings.poolSize,
        idleTimeout: 60_000,
        waitForConnections: true,
        queueLimit: QUEUE_LIMIT,
        connectTimeout: settings.connectTimeoutMs,
        enableKeepAlive: true,
        keepAliveInitialDelay: 10_000,
        maxPreparedStatements: MAX_PREPARED_STATEMENTS,
        ...(settings.tls
          ? {
              ssl: Object.assign(
                // Always check the chain; mysql2 checks the name in the certificate only when verifyIdentity is set.
                { rejectUnauthorized: true, verifyIdentity: settings.tls.verifyIdentity },
                settings.tls.ca ? { ca: settings.tls.ca } : {},
                settings.tls.cert ? { cert: settings.tls.cert } : {},
                settings.tls.key ? { key: settings.tls.key } : {},
              ),
            }
          : {}),
      })),
    }));
  }

  /** Run one prepared statement; rows come back as arrays of column values. */
  async query(sql: string, params: readonly string[]): Promise<unknown[][]> {
    return (await this.queryWithColumns(sql, params)).rows;
  }

  /** The same, with the names of the result's columns (a password_query's `password` and `user`). */
  async queryWithColumns(sql: string, params: readonly string[]): Promise<QueryResult> {
    const now = Date.now();
    const live = this.#hosts.filter((host) => host.downUntil <= now);
    let lastFailure: QueryFailure | undefined;
    for (const host of live.length > 0 ? live : this.#hosts) {
      try {
        const rows = await this.#queryHost(host, sql, params);
        if (host.down) {
          host.down = false;
          this.#log.info({ host: host.label }, 'database host answers again');
        }
        return rows;
      } catch (error) {
        const failure = error instanceof QueryFailure ? error : new QueryFailure('connection', host.label, undefined, (error as Error).message);
        if (failure.kind === 'sql') throw failure;
        lastFailure = failure;
        // Our own pool being full says nothing about the host: try the next one, but do not mark this one down.
        if (failure.kind === 'busy') continue;
        host.downUntil = Date.now() + this.#settings.retryAfterMs;
        if (!host.down) {
          host.down = true;
          const message = this.#hosts.length > 1 ? 'database host failed; trying the next one' : 'database host failed; the only host configured: logins get a temporary failure until it answers';
          this.#log.warn({ host: host.label, code: failure.code, reason: failure.message, retryAfterMs: this.#settings.retryAfterMs }, message);
        }
      }
    }
    throw lastFailure ?? new QueryFailure('connection', 'none', undefined, 'no database host configured');
  }

  async #queryHost(host: Host, sql: string, params: readonly string[]): Promise<QueryResult> {
    const { connectTimeoutMs, queryTimeoutMs } = this.#settings;
    let connection: mysql.PoolConnection;
    const saturated = host.inUse >= this.#settings.poolSize;
    try {
      connection = await withDeadline(
        new Promise<mysql.PoolConnection>((resolve, reject) => host.pool.getConnection((error, got) => (error ? reject(error) : resolve(got)))),
        connectTimeoutMs,
        (late) => late.release(),
        () =>
          saturated
            ? new QueryFailure('busy', host.label, 'POOL_BUSY', `every one of the ${this.#settings.poolSize} connections was in use for ${connectTimeoutMs} ms (pool_size)`)
            : new QueryFailure('timeout', host.label, 'ETIMEDOUT', `no connection within ${connectTimeoutMs} ms`),
      );
    } catch (error) {
      if (error instanceof QueryFailure) throw error;
      const message = (error as Error).message;
      // mysql2's own bound on logins waiting for a connection: ours, not the host's.
      if (/queue limit reached/i.test(message)) throw new QueryFailure('busy', host.label, 'POOL_QUEUE_FULL', `${QUEUE_LIMIT} logins already waiting for a connection`);
      const code = (error as { code?: string }).code;
      throw new QueryFailure('connection', host.label, code, message);
    }
    host.inUse += 1;

    let broken = false;
    try {
      return await withDeadline(
        new Promise<QueryResult>((resolve, reject) =>
          connection.execute({ sql, rowsAsArray: true, timeout: queryTimeoutMs }, params as string[], (error, result, fields) =>
            error ? reject(error) : resolve({ rows: result as unknown as unknown[][], columns: Array.isArray(fields) ? fields.map((field) => field.name) : [] }),
          ),
        ),
        queryTimeoutMs + 250,
        () => undefined,
        () => new QueryFailure('timeout', host.label, 'PROTOCOL_SEQUENCE_TIMEOUT', `no answer within ${queryTimeoutMs} ms`),
      );
    } catch (error) {
      if (error instanceof QueryFailure) {
        broken = true;
        throw error;
      }
      const code = (error as { code?: string }).code;
      const isStatementError = typeof code === 'string' && code.startsWith('ER_') && !HOST_LEVEL_SQL_ERRORS.has(code);
      broken = !isStatementError;
      if (code === 'PROTOCOL_SEQUENCE_TIMEOUT') throw new QueryFailure('timeout', host.label, code, `no answer within ${queryTimeoutMs} ms`);
      throw new QueryFailure(isStatementError ? 'sql' : 'connection', host.label, code, (error as Error).message);
    } finally {
      host.inUse -= 1;
      // A connection that timed out or broke may be mid-answer: never hand it to the next login.
      if (broken) connection.destroy();
      else connection.release();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.#hosts.map((host) => new Promise<void>((resolve) => host.pool.end(() => resolve()))));
  }
}
