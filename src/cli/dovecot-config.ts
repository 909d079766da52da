/**
 * "saslauthd-mysql dovecot-config": the Dovecot settings that send Dovecot's
 * IMAP, POP3 and ManageSieve logins to this daemon, for the configuration the
 * daemon would run with (the same flags and variables), as `postconf -n`
 * prints Postfix's: ready to save as conf.d/auth-saslauthd-mysql.conf.ext.
 * The passdb is the Lua script of docs/examples/dovecot/ (docs/dovecot.md says
 * why Lua); what could keep Dovecot from reaching the socket goes to standard
 * error, so the output stays a clean file.
 */
import path from 'node:path';
import type { DaemonConfig, DaemonFlags } from '../config/daemon-config.js';
import { resolveOrSay } from './config-print.js';

export const DEFAULT_LUA_FILE = '/etc/dovecot/saslauthd-mysql.lua';

/** The settings file's text for this configuration. */
export function dovecotSettings(config: DaemonConfig, luaFile: string): string {
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

/** What could keep Dovecot's auth workers (root by default, or the user a site gives them) from the socket. */
export function dovecotWarnings(config: DaemonConfig): string[] {
  const warnings: string[] = [];
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
