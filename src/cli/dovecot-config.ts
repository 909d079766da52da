/**
 * "saslauthd-mysql dovecot-config": the Dovecot settings that send Dovecot's
 * IMAP, POP3 and ManageSieve logins to this daemon, for the configuration the
 * daemon would run with (the same flags and variables), as `postconf -n`
 * prints Postfix's: ready to save as conf.d/auth-saslauthd-mysql.conf.ext.
 * The passdb is the Lua script of docs/examples/dovecot/ (docs/dovecot.md says
 * why Lua); what could keep Dovecot from reaching the socket goes to standard
 * error, so the output stays a clean file.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import path from 'node:path';
import type { DaemonConfig, DaemonFlags } from '../config/daemon-config.js';
import { resolveOrSay } from './config-print.js';

export const DEFAULT_LUA_FILE = '/etc/dovecot/saslauthd-mysql.lua';

/** The Dovecot releases whose configuration syntax is printed: Debian 12's (2.3) and Debian 13's (2.4), which differ. */
export const DOVECOT_SYNTAXES = ['2.3', '2.4'] as const;
export type DovecotSyntax = (typeof DOVECOT_SYNTAXES)[number];

/** The policy request attributes the daemon reads (login, remote, protocol, pwhash), with Debian's defaults for the rest, in each release's variables. */
const POLICY_ATTRIBUTES: Readonly<Record<DovecotSyntax, ReadonlyArray<readonly [string, string]>>> = {
  '2.3': [['login', '%{requested_username}'], ['pwhash', '%{hashed_password}'], ['remote', '%{rip}'], ['device_id', '%{client_id}'], ['protocol', '%s'], ['session_id', '%{session}']],
  '2.4': [['login', '%{requested_username}'], ['pwhash', '%{hashed_password}'], ['remote', '%{remote_ip}'], ['device_id', '%{client_id}'], ['protocol', '%{protocol}'], ['session_id', '%{session}']],
};

/** How much longer than the daemon's answer deadline Dovecot waits for an allow: the daemon's refusal, not Dovecot's timeout, must end a long wait. */
const POLICY_TIMEOUT_MARGIN_MS = 2_000;

/** The settings file's text for this configuration: the policy when the daemon serves one (Dovecot keeps its passdb), else the Lua passdb. */
export function dovecotSettings(config: DaemonConfig, luaFile: string, syntax: DovecotSyntax = '2.3'): string {
  return config.dovecotPolicy ? policySettings(config, config.dovecotPolicy, syntax) : luaPassdbSettings(config, luaFile, syntax);
}

function luaPassdbSettings(config: DaemonConfig, luaFile: string, syntax: DovecotSyntax): string {
  const passdb =
    syntax === '2.3'
      ? ['passdb {', '  driver = lua', `  args = file=${luaFile} blocking=yes`, '}', '', `import_environment = $import_environment SASLAUTHD_MYSQL_SOCKET=${config.socketPath}`]
      : ['passdb lua {', `  lua_file = ${luaFile}`, '  use_worker = yes', '}', '', 'import_environment {', `  SASLAUTHD_MYSQL_SOCKET = ${config.socketPath}`, '}'];
  return [
    `# Dovecot ${syntax}'s IMAP, POP3 and ManageSieve logins checked by saslauthd-mysql (docs/dovecot.md),`,
    `# for its socket ${config.socketPath}. Save as /etc/dovecot/conf.d/auth-saslauthd-mysql.conf.ext and`,
    `# include it in 10-auth.conf instead of the passdb you had; keep your userdb.`,
    `# The Lua script: copy examples/dovecot/saslauthd-mysql.lua of the docs to ${luaFile}.`,
    '',
    '# The daemon checks plaintext passwords only: it never hands a stored value out.',
    'auth_mechanisms = plain login',
    '',
    ...passdb,
    '',
  ].join('\n');
}

function policySettings(config: DaemonConfig, policy: NonNullable<DaemonConfig['dovecotPolicy']>, syntax: DovecotSyntax): string {
  const { host, port } = policy.listen;
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  // A nonce only this configuration makes, without revealing the secret: the same output every time.
  const nonce = createHash('sha256').update('saslauthd-mysql auth_policy_hash_nonce\u0000').update(policy.secret).digest('hex').slice(0, 32);
  const timeoutMs = config.timeouts.answerTimeoutMs + POLICY_TIMEOUT_MARGIN_MS;
  const attributes = POLICY_ATTRIBUTES[syntax];
  const releaseSpecific =
    syntax === '2.3'
      ? [`auth_policy_request_attributes = ${attributes.map(([name, value]) => `${name}=${value}`).join(' ')}`, waitComment(config), `auth_policy_server_timeout_msecs = ${timeoutMs}`]
      : ['auth_policy_request_attributes {', ...attributes.map(([name, value]) => `  ${name} = ${value}`), '}', waitComment(config), 'auth_policy {', `  http_client_request_absolute_timeout = ${timeoutMs}ms`, '}'];
  return [
    `# Dovecot ${syntax} keeps its own passdb and asks saslauthd-mysql before and after each login (docs/dovecot.md),`,
    `# so IMAP, POP3 and ManageSieve share one guessing budget with SMTP. Save as`,
    `# /etc/dovecot/conf.d/auth-saslauthd-mysql-policy.conf.ext and include it in 10-auth.conf.`,
    '',
    `auth_policy_server_url = http://${isIPv6(reachable) ? `[${reachable}]` : reachable}:${port}/`,
    `# The secret, read from the daemon's own file: it never appears in Dovecot's configuration.`,
    `auth_policy_server_api_header = <${policy.secretFile}`,
    `auth_policy_hash_nonce = ${nonce}`,
    ...releaseSpecific,
    `# With the daemon stopped Dovecot still checks every password, without the shared budget; yes refuses every login instead.`,
    'auth_policy_reject_on_fail = no',
    '',
  ].join('\n');
}

function waitComment(config: DaemonConfig): string {
  return `# An allow is answered when the login's turn comes, within the daemon's answer deadline (${config.timeouts.answerTimeoutMs} ms).`;
}

/**
 * The installed Dovecot's release, for the syntax to print: "2.4" when
 * `dovecot --version` says 2.4 or later, "2.3" when it says 2.3; undefined
 * when there is no Dovecot here to ask.
 */
export function installedDovecotSyntax(run: () => string | undefined = () => spawnSync('dovecot', ['--version'], { encoding: 'utf8', timeout: 5_000 }).stdout): DovecotSyntax | undefined {
  const version = /^(\d+)\.(\d+)/.exec(run()?.trim() ?? '');
  if (!version) return undefined;
  const [major, minor] = [Number(version[1]), Number(version[2])];
  return major > 2 || (major === 2 && minor >= 4) ? '2.4' : '2.3';
}

/** What could keep Dovecot's auth workers (root by default, or the user a site gives them) from the socket. */
export function dovecotWarnings(config: DaemonConfig): string[] {
  const warnings: string[] = [];
  if (config.dovecotPolicy) {
    if (config.dovecotPolicy.listen.port === 0) warnings.push('--dovecot-policy-listen 0 picks a port when the daemon starts: give Dovecot a fixed one');
    if (config.mech === 'passwd-file') warnings.push('-a passwd-file: the policy counts names the passwd-file has as real users; Dovecot checks passwords against its own passdb');
    return warnings;
  }
  if (/[\s"'$\\]/.test(config.socketPath)) warnings.push(`the socket path ${config.socketPath} holds a space, a quote or a "$": Dovecot's import_environment cannot carry it; choose a plain path with -m`);
  if ((config.socket.mode & 0o006) !== 0o006) {
    warnings.push(`the socket is mode ${config.socket.mode.toString(8).padStart(4, '0')}: Dovecot's auth workers reach it as root (their default), or as a member of its group${config.socket.gid === undefined ? ' (set one with --socket-group)' : ''} if service auth-worker runs as another user`);
  }
  if (config.mech === 'passwd-file') warnings.push('-a passwd-file: the logins are checked against a passwd-file, not the mailbox table');
  return warnings;
}

export function runDovecotConfig(
  flags: DaemonFlags,
  options: { readonly luaFile: string; readonly dovecotVersion?: string },
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
  env: NodeJS.ProcessEnv = process.env,
  installed: () => DovecotSyntax | undefined = installedDovecotSyntax,
): number {
  const config = resolveOrSay(flags, env, err);
  if (!config) return 1;
  const { luaFile, dovecotVersion } = options;
  if (!path.isAbsolute(luaFile)) {
    err.write(`problem: --lua-file ${luaFile}: Dovecot needs an absolute path\n`);
    return 1;
  }
  if (dovecotVersion !== undefined && !(DOVECOT_SYNTAXES as readonly string[]).includes(dovecotVersion)) {
    err.write(`problem: --dovecot-version ${dovecotVersion}: expected ${DOVECOT_SYNTAXES.join(' or ')}\n`);
    return 1;
  }
  const syntax = (dovecotVersion as DovecotSyntax | undefined) ?? installed();
  if (syntax === undefined) err.write('warn: no Dovecot here to ask its version (dovecot --version): printing 2.3\'s syntax; give --dovecot-version 2.4 for Debian 13\'s\n');
  out.write(dovecotSettings(config, luaFile, syntax ?? '2.3'));
  for (const warning of dovecotWarnings(config)) err.write(`warn: ${warning}\n`);
  return 0;
}
