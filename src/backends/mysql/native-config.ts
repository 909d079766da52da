/**
 * Settings for -a mysql: a "key = value" file (# comments), overridden by
 * SASLAUTHD_MYSQL_DB_* environment variables, including a mysql:// URL for
 * containers. Validated once; every error names the key and where it came from.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, NOT_REPEATED } from '../../errors.js';
import { exposedSecretWarning } from '../../common/exposed-file.js';
import { parseDefaultScheme, type DefaultScheme } from '../../crypt/default-scheme.js';
import { parseHostAddress } from './host-address.js';
import { prepareQueryLookup } from './lookup-sql.js';
import { tlsIdentityProblem, type ColumnLookup, type ConnectionSettings, type MysqlBackendSettings, type QueryLookup, type TlsSettings } from './settings.js';

export const KEYS = [
  'hosts', 'database', 'user', 'password', 'password_file',
  'table', 'user_column', 'password_column', 'where', 'status_column', 'password_query', 'default_scheme',
  'tls', 'tls_ca', 'tls_cert', 'tls_key', 'tls_verify_identity',
  'connect_timeout', 'query_timeout', 'pool_size', 'retry_after',
] as const;
export type Key = (typeof KEYS)[number];

export const DB_ENV_PREFIX = 'SASLAUTHD_MYSQL_DB_';

export const CONNECTION_DEFAULTS = Object.freeze({
  connectTimeoutMs: 3000,
  queryTimeoutMs: 3000,
  poolSize: 8,
  retryAfterMs: 10_000,
});

interface Source {
  readonly value: string;
  /** "file:line" or the environment variable's name. */
  readonly origin: string;
}

/** Parse the file's lines; later keys win, unknown keys are errors (a typo must not go unnoticed). */
export function parseConfigText(text: string, fileName: string): Map<Key, Source> {
  const values = new Map<Key, Source>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const eq = line.indexOf('=');
    const origin = `${fileName}:${index + 1}`;
    if (eq < 0) throw new ConfigError(origin, 'expected "key = value"');
    const key = line.slice(0, eq).trim().toLowerCase();
    if (!(KEYS as readonly string[]).includes(key)) throw new ConfigError(origin, `unknown key "${key}"`);
    values.set(key as Key, { value: line.slice(eq + 1).trim(), origin });
  });
  return values;
}

function readFile(origin: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(origin, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function fromEnvironment(env: Readonly<Record<string, string | undefined>>): Map<Key, Source> {
  const values = new Map<Key, Source>();
  const url = env[`${DB_ENV_PREFIX}URL`];
  if (url) {
    const origin = `${DB_ENV_PREFIX}URL`;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError(origin, 'not a URL; expected mysql://user:password@host:port/database');
    }
    if (parsed.protocol !== 'mysql:') throw new ConfigError(origin, 'expected a mysql:// URL');
    values.set('hosts', { value: parsed.port ? `${parsed.hostname}:${parsed.port}` : parsed.hostname, origin });
    if (parsed.username) values.set('user', { value: decodeURIComponent(parsed.username), origin });
    if (parsed.password) values.set('password', { value: decodeURIComponent(parsed.password), origin });
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
    if (database) values.set('database', { value: database, origin });
  }
  for (const key of KEYS) {
    const name = `${DB_ENV_PREFIX}${key.toUpperCase()}`;
    const value = env[name];
    if (value !== undefined && value !== '') values.set(key, { value, origin: name });
  }
  return values;
}

function positive(source: Source | undefined, fallback: number, max: number): number {
  if (!source) return fallback;
  if (!/^\d+$/.test(source.value) || Number(source.value) < 1 || Number(source.value) > max) {
    throw new ConfigError(source.origin, `expected a whole number from 1 to ${max} (${NOT_REPEATED})`);
  }
  return Number(source.value);
}

function yesNo(source: Source | undefined, fallback: boolean): boolean {
  if (!source) return fallback;
  const word = source.value.toLowerCase();
  if (['yes', 'on', 'true', '1', 'required'].includes(word)) return true;
  if (['no', 'off', 'false', '0'].includes(word)) return false;
  throw new ConfigError(source.origin, `expected yes or no (${NOT_REPEATED})`);
}

/** The part of the connection settings that tunes rather than identifies: TLS, timeouts, pool. */
export type ConnectionTuning = Omit<ConnectionSettings, 'hosts' | 'database' | 'user' | 'password'>;

export function buildTuning(get: (key: Key) => Source | undefined, readText: (origin: string, file: string) => string = readFile): ConnectionTuning {
  let tls: TlsSettings | undefined;
  const ca = get('tls_ca');
  const cert = get('tls_cert');
  const key = get('tls_key');
  if (yesNo(get('tls'), Boolean(ca || cert))) {
    tls = {
      verifyIdentity: yesNo(get('tls_verify_identity'), true),
      ...(ca ? { ca: readText(ca.origin, ca.value) } : {}),
      ...(cert ? { cert: readText(cert.origin, cert.value) } : {}),
      ...(key ? { key: readText(key.origin, key.value) } : {}),
    };
  }
  return {
    ...(tls ? { tls } : {}),
    connectTimeoutMs: positive(get('connect_timeout'), CONNECTION_DEFAULTS.connectTimeoutMs, 600_000),
    queryTimeoutMs: positive(get('query_timeout'), CONNECTION_DEFAULTS.queryTimeoutMs, 600_000),
    poolSize: positive(get('pool_size'), CONNECTION_DEFAULTS.poolSize, 1000),
    retryAfterMs: positive(get('retry_after'), CONNECTION_DEFAULTS.retryAfterMs, 86_400_000),
  };
}

function buildConnection(get: (key: Key) => Source | undefined): ConnectionSettings {
  const hostsSource = get('hosts');
  if (!hostsSource) throw new ConfigError('hosts', 'no database host given');
  const hosts = hostsSource.value.split(',').map((part) => {
    const address = parseHostAddress(part);
    if (!address) throw new ConfigError(hostsSource.origin, `"${part.trim()}" is not host, host:port or /socket/path`);
    return address;
  });
  const database = get('database');
  if (!database?.value) throw new ConfigError('database', 'no database name given');
  const user = get('user');
  if (!user?.value) throw new ConfigError('user', 'no database user given');
  const passwordFile = get('password_file');
  const password = passwordFile ? readFile(passwordFile.origin, passwordFile.value).replace(/\r?\n$/, '') : (get('password')?.value ?? '');
  const connection: ConnectionSettings = { hosts, database: database.value, user: user.value, password, ...buildTuning(get) };
  const tlsProblem = tlsIdentityProblem(connection);
  if (tlsProblem) throw new ConfigError(get('tls_verify_identity')?.origin ?? get('tls_ca')?.origin ?? get('tls')?.origin ?? 'tls', tlsProblem);
  return connection;
}

/**
 * Every key the file and the environment set, with where each value comes
 * from (the environment wins, as in loadNativeSettings), for
 * "saslauthd-mysql config". The caller masks secrets.
 */
export function settingSources(file: string | undefined, env: Readonly<Record<string, string | undefined>> = process.env): Array<{ readonly key: Key; readonly value: string; readonly origin: string }> {
  const fromFile = file ? parseConfigText(readFile('-O', file), file) : new Map<Key, Source>();
  const fromEnv = fromEnvironment(env);
  return KEYS.flatMap((key) => {
    const source = fromEnv.get(key) ?? fromFile.get(key);
    return source ? [{ key, value: source.value, origin: source.origin }] : [];
  });
}

/** Keys and environment for connection tuning only (used with -a pam, where pam_mysql names the database). */
export function loadTuning(file: string | undefined, env: Readonly<Record<string, string | undefined>> = process.env): ConnectionTuning {
  const fromFile = file ? parseConfigText(readFile('-O', file), file) : new Map<Key, Source>();
  const fromEnv = fromEnvironment(env);
  return buildTuning((key) => fromEnv.get(key) ?? fromFile.get(key));
}

/** Settings for -a mysql from the config file (optional) and the environment. */
export function loadNativeSettings(file: string | undefined, env: Readonly<Record<string, string | undefined>> = process.env): MysqlBackendSettings {
  const fromFile = file ? parseConfigText(readFile('-O', file), file) : new Map<Key, Source>();
  const fromEnv = fromEnvironment(env);
  const get = (key: Key) => fromEnv.get(key) ?? fromFile.get(key);

  const connection = buildConnection(get);
  const warnings = [
    file && fromFile.get('password') && !fromEnv.get('password') ? exposedSecretWarning(file, 'the database password') : undefined,
    get('password_file') ? exposedSecretWarning(get('password_file')!.value, 'the database password (password_file)') : undefined,
  ].filter((warning) => warning !== undefined);
  const query = get('password_query');
  const table = get('table');
  let lookup: ColumnLookup | QueryLookup;
  if (query) {
    if (table) throw new ConfigError(query.origin, 'give either password_query or table/user_column/password_column, not both');
    lookup = { kind: 'query', passwordQuery: query.value };
    try {
      prepareQueryLookup(lookup);
    } catch (error) {
      throw new ConfigError(query.origin, (error as Error).message);
    }
  } else {
    if (!table) throw new ConfigError('table', 'give table, user_column and password_column, or a password_query');
    const where = get('where')?.value;
    const status = get('status_column')?.value;
    lookup = {
      kind: 'columns',
      table: table.value,
      userColumn: get('user_column')?.value ?? 'username',
      passwordColumn: get('password_column')?.value ?? 'password',
      ...(where ? { where } : {}),
      ...(status ? { statusColumn: status } : {}),
    };
  }
  const schemeSource = get('default_scheme');
  let defaultScheme: DefaultScheme | undefined;
  if (schemeSource) {
    defaultScheme = parseDefaultScheme(schemeSource.value);
    if (!defaultScheme) throw new ConfigError(schemeSource.origin, `unknown default_scheme (${NOT_REPEATED})`);
  }
  return { connection, lookup, ...(defaultScheme ? { defaultScheme } : {}), ...(warnings.length > 0 ? { warnings } : {}) };
}
