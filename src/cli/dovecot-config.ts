/**
 * "saslauthd-mysql dovecot-config": the Dovecot settings that send Dovecot's
 * IMAP, POP3 and ManageSieve logins to this daemon, for the configuration the
 * daemon would run with (the same flags and variables), as `postconf -n`
 * prints Postfix's: ready to save as conf.d/auth-saslauthd-mysql.conf.ext.
 * The passdb is the Lua script of docs/examples/dovecot/ (docs/dovecot.md says
 * why Lua); what could keep Dovecot from reaching the socket goes to standard
 * error, so the output stays a clean file.
 */
import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import path from 'node:path';
import type { DaemonConfig, DaemonFlags } from '../config/daemon-config.js';
import { resolveOrSay } from './config-print.js';

export const DEFAULT_LUA_FILE = '/etc/dovecot/saslauthd-mysql.lua';

/** Dovecot's auth_policy_request_attributes as Debian's Dovecot 2.3 has them: the daemon reads login, remote, protocol and pwhash. */
export const POLICY_ATTRIBUTES = 'login=%{requested_username} pwhash=%{hashed_password} remote=%{rip} device_id=%{client_id} protocol=%s session_id=%{session}';

/** How much longer than the daemon's answer deadline Dovecot waits for an allow: the daemon's refusal, not Dovecot's timeout, must end a long wait. */
const POLICY_TIMEOUT_MARGIN_MS = 2_000;

/** The settings file's text for this configuration: the policy when the daemon serves one (Dovecot keeps its passdb), else the Lua passdb. */
export function dovecotSettings(config: DaemonConfig, luaFile: string): string {
  return config.dovecotPolicy ? policySettings(config, config.dovecotPolicy) : luaPassdbSettings(config, luaFile);
}

function luaPassdbSettings(config: DaemonConfig, luaFile: string): string {
  return [
    `# Dovecot's IMAP, POP3 and ManageSieve logins checked by saslauthd-mysql (docs/dovecot.md),`,
    `# for its socket ${config.socketPath}. Save as /etc/dovecot/conf.d/auth-saslauthd-mysql.conf.ext and`,
    `# include it in 10-auth.conf instead of the passdb you had; keep your userdb.`,
    `# The Lua script: copy examples/dovecot/saslauthd-mysql.lua of the docs to ${luaFile}.`,
    '',
    '# The daemon checks plaintext passwords only: it never hands a stored value out.',
    'auth_mechanisms = plain login',
    '',
    'passdb {',
    '  driver = lua',
    `  args = file=${luaFile} blocking=yes`,
    '}',
    '',
    `import_environment = $import_environment SASLAUTHD_MYSQL_SOCKET=${config.socketPath}`,
    '',
  ].join('\n');
}

function policySettings(config: DaemonConfig, policy: NonNullable<DaemonConfig['dovecotPolicy']>): string {
  const { host, port } = policy.listen;
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  // A nonce only this configuration makes, without revealing the secret: the same output every time.
  const nonce = createHash('sha256').update('saslauthd-mysql auth_policy_hash_nonce\u0000').update(policy.secret).digest('hex').slice(0, 32);
  return [
    `# Dovecot keeps its own passdb and asks saslauthd-mysql before and after each login (docs/dovecot.md),`,
    `# so IMAP, POP3 and ManageSieve share one guessing budget with SMTP. Save as`,
    `# /etc/dovecot/conf.d/auth-saslauthd-mysql-policy.conf.ext and include it in 10-auth.conf.`,
    '',
    `auth_policy_server_url = http://${isIPv6(reachable) ? `[${reachable}]` : reachable}:${port}/`,
    `# The secret, read from the daemon's own file: it never appears in Dovecot's configuration.`,
    `auth_policy_server_api_header = <${policy.secretFile}`,
    `auth_policy_hash_nonce = ${nonce}`,
    `auth_policy_request_attributes = ${POLICY_ATTRIBUTES}`,
    `# An allow is answered when the login's turn comes, within the daemon's answer deadline (${config.timeouts.answerTimeoutMs} ms).`,
    `auth_policy_server_timeout_msecs = ${config.timeouts.answerTimeoutMs + POLICY_TIMEOUT_MARGIN_MS}`,
    `# With the daemon stopped Dovecot still checks every password, without the shared budget; yes refuses every login instead.`,
    'auth_policy_reject_on_fail = no',
    '',
  ].join('\n');
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

export function runDovecotConfig(flags: DaemonFlags, luaFile: string, out: NodeJS.WritableStream, err: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): number {
  const config = resolveOrSay(flags, env, err);
  if (!config) return 1;
  if (!path.isAbsolute(luaFile)) {
    err.write(`problem: --lua-file ${luaFile}: Dovecot needs an absolute path\n`);
    return 1;
  }
  out.write(dovecotSettings(config, luaFile));
  for (const warning of dovecotWarnings(config)) err.write(`warn: ${warning}\n`);
  return 0;
}
