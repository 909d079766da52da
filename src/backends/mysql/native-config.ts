/**
 * Settings for -a mysql: a "key = value" file (# comments), overridden by
 * SASLAUTHD_MYSQL_DB_* environment variables, including a mysql:// URL for
 * containers. Validated once; every error names the key and where it came from.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, NOT_REPEATED } from '../../errors.js';
import { exposedSecretWarning } from '../../common/exposed-file.js';
import { docPath } from '../../common/doc-path.js';
import { parseDefaultScheme, type DefaultScheme } from '../../crypt/default-scheme.js';
import { parseHostAddress } from './host-address.js';
import { prepareQueryLookup } from './lookup-sql.js';
import { DEFAULT_MAX_CANDIDATES } from './rows.js';
import { parseRehashTarget } from '../../crypt/rehash-target.js';
import { tlsIdentityProblem, type ColumnLookup, type ConnectionSettings, type MysqlBackendSettings, type PostfixAdminLookup, type QueryLookup, type RehashSettings, type TlsSettings } from './settings.js';

export const KEYS = [
  'hosts', 'database', 'user', 'password', 'password_file',
  'table', 'user_column', 'password_column', 'where', 'status_column', 'password_query', 'default_scheme',
  'preset', 'smtp_services', 'max_candidates',
  'rehash_to', 'rehash_cost', 'rehash_user', 'rehash_password', 'rehash_password_file', 'rehash_query',
  'tls', 'tls_ca', 'tls_cert', 'tls_key', 'tls_verify_identity',
  'connect_timeout', 'query_timeout', 'pool_size', 'retry_after',
] as const;
export type Key = (typeof KEYS)[number];

export const DB_ENV_PREFIX = 'SASLAUTHD_MYSQL_DB_';
/** The preset also has a shorter name, the one a container's environment is likely to use. */
export const PRESET_ENV = 'SASLAUTHD_MYSQL_PRESET';
export const PRESETS = ['postfixadmin'] as const;

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
  if (env[PRESET_ENV]) values.set('preset', { value: env[PRESET_ENV], origin: PRESET_ENV });
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
  return Object.assign(tls ? { tls } : {}, {
    connectTimeoutMs: positive(get('connect_timeout'), CONNECTION_DEFAULTS.connectTimeoutMs, 600_000),
    queryTimeoutMs: positive(get('query_timeout'), CONNECTION_DEFAULTS.queryTimeoutMs, 600_000),
    poolSize: positive(get('pool_size'), CONNECTION_DEFAULTS.poolSize, 1000),
    retryAfterMs: positive(get('retry_after'), CONNECTION_DEFAULTS.retryAfterMs, 86_400_000),
  });
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
  const warnings: string[] = [
    file && fromFile.get('password') && !fromEnv.get('password') ? exposedSecretWarning(file, 'the database password') : undefined,
    get('password_file') ? exposedSecretWarning(get('password_file')!.value, 'the database password (password_file)') : undefined,
  ].filter((warning) => warning !== undefined);
  const lookup = buildLookup(get);
  const schemeSource = get('default_scheme');
  let defaultScheme: DefaultScheme | undefined;
  if (schemeSource) {
    defaultScheme = parseDefaultScheme(schemeSource.value);
    if (!defaultScheme) throw new ConfigError(schemeSource.origin, `unknown default_scheme (${NOT_REPEATED})`);
  }
  const maxCandidates = positive(get('max_candidates'), DEFAULT_MAX_CANDIDATES, 1000);
  const rehash = buildRehash(get, lookup, connection);
  if (rehash?.warning) warnings.push(rehash.warning);
  return {
    connection,
    lookup,
    maxCandidates,
    ...(rehash ? { rehash: rehash.settings } : {}),
    ...(defaultScheme ? { defaultScheme } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}

/** The lookup: PostfixAdmin's preset, a password_query, or pam_mysql's table and columns. */
function buildLookup(get: (key: Key) => Source | undefined): ColumnLookup | QueryLookup | PostfixAdminLookup {
  const preset = get('preset');
  const query = get('password_query');
  const table = get('table');
  if (preset) {
    if (!(PRESETS as readonly string[]).includes(preset.value.toLowerCase())) throw new ConfigError(preset.origin, `unknown preset "${preset.value}"; the one there is: ${PRESETS.join(', ')}`);
    const clash = query ?? table ?? get('where') ?? get('status_column');
    if (clash) throw new ConfigError(clash.origin, 'preset = postfixadmin writes the lookup itself: leave out password_query, table, where and status_column (or leave out the preset)');
    const services = (get('smtp_services')?.value ?? 'smtp').split(',').map((service) => service.trim().toLowerCase()).filter((service) => service !== '');
    return { kind: 'postfixadmin', smtpServices: services };
  }
  const smtpServices = get('smtp_services');
  if (smtpServices) throw new ConfigError(smtpServices.origin, 'smtp_services is read only with preset = postfixadmin');
  if (query) {
    if (table) throw new ConfigError(query.origin, 'give either password_query or table/user_column/password_column, not both');
    const lookup: QueryLookup = { kind: 'query', passwordQuery: query.value };
    try {
      prepareQueryLookup(lookup);
    } catch (error) {
      throw new ConfigError(query.origin, (error as Error).message);
    }
    return lookup;
  }
  if (!table) throw new ConfigError('table', 'give table, user_column and password_column, a password_query, or preset = postfixadmin');
  const where = get('where')?.value;
  const status = get('status_column')?.value;
  return {
    kind: 'columns',
    table: table.value,
    userColumn: get('user_column')?.value ?? 'username',
    passwordColumn: get('password_column')?.value ?? 'password',
    ...(where ? { where } : {}),
    ...(status ? { statusColumn: status } : {}),
  };
}

/**
 * Re-hashing on login, off unless rehash_to is set: its own writer account
 * (the lookup's only reads), and an UPDATE that writes only over the value
 * the login matched, so a password changed meanwhile wins.
 */
function buildRehash(get: (key: Key) => Source | undefined, lookup: ColumnLookup | QueryLookup | PostfixAdminLookup, connection: ConnectionSettings): { readonly settings: RehashSettings; readonly warning?: string } | undefined {
  const to = get('rehash_to');
  if (!to) {
    const stray = get('rehash_user') ?? get('rehash_password') ?? get('rehash_password_file') ?? get('rehash_query') ?? get('rehash_cost');
    if (stray) throw new ConfigError(stray.origin, 'a rehash_ setting without rehash_to: re-hashing stays off; set rehash_to to turn it on, or remove this line');
    return undefined;
  }
  const costSource = get('rehash_cost');
  const target = parseRehashTarget(to.value, costSource ? positive(costSource, 1, 999_999_999) : undefined);
  if ('problem' in target) throw new ConfigError(costSource && /cost/.test(target.problem) ? costSource.origin : to.origin, target.problem);
  const user = get('rehash_user');
  if (!user?.value) throw new ConfigError(to.origin, `rehash_to needs rehash_user, an account that may SELECT the user and password columns and UPDATE the password column (the lookup account only reads); ${docPath('postfixadmin.md')} has the GRANT`);
  if (user.value === connection.user) throw new ConfigError(user.origin, 'rehash_user is the lookup account: give re-hashing its own account, so that the one every login uses cannot write');
  const passwordFile = get('rehash_password_file');
  const password = passwordFile ? readFile(passwordFile.origin, passwordFile.value).replace(/\r?\n$/, '') : (get('rehash_password')?.value ?? '');
  const querySource = get('rehash_query');
  const query = querySource?.value ?? defaultRehashQuery(lookup);
  if (query === undefined) throw new ConfigError(to.origin, 'with a password_query, re-hashing needs rehash_query: an UPDATE with three ?, for the new value, the user name and the value the login matched');
  const problem = rehashQueryProblem(query);
  if (problem) throw new ConfigError(querySource?.origin ?? to.origin, problem);
  const warning = passwordFile ? exposedSecretWarning(passwordFile.value, 'the re-hash writer\'s password (rehash_password_file)') : get('rehash_password') && !get('rehash_password')!.origin.startsWith(DB_ENV_PREFIX) ? exposedSecretWarningFor(get('rehash_password')!.origin) : undefined;
  return { settings: { to: target.scheme, ...(target.cost === undefined ? {} : { cost: target.cost }), user: user.value, password, query }, ...(warning ? { warning } : {}) };
}

/** The config file's own check, for a writer password written in it. */
function exposedSecretWarningFor(origin: string): string | undefined {
  return exposedSecretWarning(origin.replace(/:\d+$/, ''), 'the re-hash writer\'s password');
}

/** For the preset and for table lookups the UPDATE follows from the lookup; a password_query's cannot be guessed. */
function defaultRehashQuery(lookup: ColumnLookup | QueryLookup | PostfixAdminLookup): string | undefined {
  if (lookup.kind === 'postfixadmin') return 'UPDATE mailbox SET password = ? WHERE username = ? AND password = ?';
  if (lookup.kind === 'columns') return `UPDATE ${lookup.table} SET ${lookup.passwordColumn} = ? WHERE ${lookup.userColumn} = ? AND ${lookup.passwordColumn} = ?`;
  return undefined;
}

function rehashQueryProblem(query: string): string | undefined {
  if (!/^\s*update\b/i.test(query)) return 'rehash_query must be an UPDATE statement';
  const marks = query.split('?').length - 1;
  if (marks !== 3) return `rehash_query has ${marks} "?"; it needs exactly three: the new value, the user name, and the value the login matched (so that a password changed meanwhile is not overwritten)`;
  return undefined;
}
