/**
 * pam_mysql's options (from the PAM line and its config_file) turned into
 * the MySQL backend's settings. Options that cannot apply outside a PAM
 * stack are named in warnings that say why; unknown ones are ignored, as
 * pam_mysql ignores them. Values are never put into messages: one of them
 * is the database password.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseDefaultScheme, type DefaultScheme } from '../../crypt/default-scheme.js';
import { parseHostAddress } from '../mysql/host-address.js';
import type { ConnectionTuning } from '../mysql/native-config.js';
import { tlsIdentityProblem, type HostAddress, type PlainLookupSettings } from '../mysql/settings.js';
import type { PamMysqlLines } from './pam-file.js';

/** config_file keys, as pam_mysql names them, and the PAM option each one sets. */
const CONFIG_FILE_KEYS: Readonly<Record<string, string>> = {
  'users.host': 'host',
  'users.database': 'db',
  'users.db_user': 'user',
  'users.db_passwd': 'passwd',
  'users.where_clause': 'where',
  'users.table': 'table',
  'users.update_table': 'update_table',
  'users.user_column': 'usercolumn',
  'users.password_column': 'passwdcolumn',
  'users.status_column': 'statcolumn',
  'users.password_crypt': 'crypt',
  'users.use_md5': 'md5',
  'users.use_323_password': 'use_323_passwd',
  'users.disconnect_every_operation': 'disconnect_every_op',
  verbose: 'verbose',
  'log.enabled': 'sqllog',
  'log.table': 'logtable',
  'log.message_column': 'logmsgcolumn',
  'log.pid_column': 'logpidcolumn',
  'log.user_column': 'logusercolumn',
  'log.host_column': 'loghostcolumn',
  'log.rhost_column': 'logrhostcolumn',
  'log.time_column': 'logtimecolumn',
};

const USED = new Set(['host', 'db', 'user', 'passwd', 'table', 'usercolumn', 'passwdcolumn', 'where', 'statcolumn', 'crypt', 'config_file']);

/** Options that mean something to pam_mysql but nothing here, and why. */
const NOT_APPLICABLE: Readonly<Record<string, string>> = {
  md5: 'md5= only chooses the salt for password changes; verification reads the stored value',
  use_first_pass: 'there is no PAM stack: the password comes with the request',
  try_first_pass: 'there is no PAM stack: the password comes with the request',
  disconnect_every_op: 'connections are pooled and kept; each lookup still gets a fresh answer',
  update_table: 'used only to change passwords, which saslauthd never does',
  verbose: 'use --log-level debug instead; passwords and SQL values are never logged',
  debug: 'use --log-level debug instead; passwords and SQL values are never logged',
  sqllog: 'logging to a SQL table is not supported; every authentication is a line in the daemon log',
  logtable: 'logging to a SQL table is not supported',
  logmsgcolumn: 'logging to a SQL table is not supported',
  logpidcolumn: 'logging to a SQL table is not supported',
  logusercolumn: 'logging to a SQL table is not supported',
  loghostcolumn: 'logging to a SQL table is not supported',
  logrhostcolumn: 'logging to a SQL table is not supported',
  logtimecolumn: 'logging to a SQL table is not supported',
};

/** pam_mysql's booleans: false only for 0, N, false, no. */
const isTrue = (value: string) => !['0', 'n', 'false', 'no'].includes(value.trim().toLowerCase());

/** The MySQL client library reads "localhost" as its UNIX socket; these are where Debian and others put it. */
const LOCAL_SOCKETS = ['/run/mysqld/mysqld.sock', '/var/run/mysqld/mysqld.sock', '/var/lib/mysql/mysql.sock'];

export type PamMysqlOutcome =
  | { readonly ok: true; readonly settings: PlainLookupSettings; readonly warnings: readonly string[]; readonly files: readonly string[] }
  | { readonly ok: false; readonly reason: string; readonly files: readonly string[] };

export function parseArgs(args: readonly string[]): Map<string, string> {
  const options = new Map<string, string>();
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq < 0) options.set(arg, 'true');
    else options.set(arg.slice(0, eq), arg.slice(eq + 1));
  }
  return options;
}

/** pam_mysql's config file: "name = value" lines, ";" allowed at the end, "#" comments. */
export function parseConfigFile(text: string): Map<string, string> {
  const options = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const name = CONFIG_FILE_KEYS[line.slice(0, eq).trim()];
    if (name) options.set(name, line.slice(eq + 1).trim().replace(/;$/, '').trim());
  }
  return options;
}

function hostAddress(value: string | undefined): HostAddress | undefined {
  if (value === undefined || value === '' || value === 'localhost') {
    const socketPath = LOCAL_SOCKETS.find((candidate) => existsSync(candidate));
    return socketPath ? { socketPath } : { host: 'localhost', port: 3306 };
  }
  return parseHostAddress(value);
}

export function pamMysqlSettings(lines: PamMysqlLines, tuning: ConnectionTuning, read: (file: string) => string = (f) => readFileSync(f, 'utf8')): PamMysqlOutcome {
  const files: string[] = [];
  if (!lines.auth) return { ok: false, reason: 'no "auth ... pam_mysql.so" line', files };

  const options = parseArgs(lines.auth.args);
  const configFile = options.get('config_file');
  if (configFile) {
    files.push(configFile);
    let text: string;
    try {
      text = read(configFile);
    } catch (error) {
      return { ok: false, reason: `cannot read pam_mysql config_file ${configFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, files };
    }
    // Arguments on the PAM line win over the config file.
    for (const [name, value] of parseConfigFile(text)) if (!options.has(name)) options.set(name, value);
  }
  // The account line is where pam_mysql checks the status column; honour it from either line.
  const account = lines.account ? parseArgs(lines.account.args) : new Map<string, string>();
  const statusColumn = account.get('statcolumn') ?? options.get('statcolumn');

  const warnings: string[] = [];
  for (const name of options.keys()) {
    if (USED.has(name)) continue;
    if (name === 'use_323_passwd') {
      if (isTrue(options.get(name)!)) warnings.push('use_323_passwd: pre-4.1 MySQL PASSWORD() hashes are not supported; such values fail with ERR_UNSUPPORTED_SCHEME');
    } else if (NOT_APPLICABLE[name]) {
      warnings.push(`${name}: ${NOT_APPLICABLE[name]}`);
    } else {
      warnings.push(`${name}: unknown pam_mysql option, ignored (as pam_mysql does)`);
    }
  }

  const missing = ['db', 'table', 'usercolumn', 'passwdcolumn'].filter((name) => !options.get(name));
  if (missing.length > 0) return { ok: false, reason: `pam_mysql line at ${lines.auth.origin} lacks ${missing.join(', ')}`, files };
  const host = hostAddress(options.get('host'));
  if (!host) return { ok: false, reason: `pam_mysql host= is not host, host:port or /socket/path (at ${lines.auth.origin})`, files };

  let defaultScheme: DefaultScheme = 'plain';
  const crypt = options.get('crypt');
  if (crypt !== undefined) {
    const parsed = parseDefaultScheme(crypt);
    if (!parsed) return { ok: false, reason: `pam_mysql crypt=${crypt} is not a known mode (at ${lines.auth.origin})`, files };
    defaultScheme = parsed;
  }
  const where = options.get('where');
  // pam_mysql's default status expression is "0": nothing to check.
  const checkStatus = statusColumn !== undefined && statusColumn.trim() !== '' && statusColumn.trim() !== '0';

  const connection = { hosts: [host], database: options.get('db')!, user: options.get('user') ?? '', password: options.get('passwd') ?? '', ...tuning };
  const tlsProblem = tlsIdentityProblem(connection);
  if (tlsProblem) return { ok: false, reason: `${tlsProblem} (pam_mysql host= at ${lines.auth.origin})`, files };
  return {
    ok: true,
    files,
    warnings,
    settings: {
      connection,
      lookup: {
        kind: 'columns',
        table: options.get('table')!,
        userColumn: options.get('usercolumn')!,
        passwordColumn: options.get('passwdcolumn')!,
        ...(where ? { where } : {}),
        ...(checkStatus ? { statusColumn: statusColumn } : {}),
      },
      defaultScheme,
    },
  };
}
