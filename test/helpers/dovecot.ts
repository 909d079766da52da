/**
 * Dovecot's own auth service (Debian's dovecot-core), run from a private
 * configuration with no mail protocols at all, as the reference for the
 * daemon's Dovecot-protocol listener: the same passwd-file behind both, the
 * same clients in front. Its sockets, state and log are under the directory
 * it is given; the host's Dovecot is never touched.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { eventually } from './daemon.js';
import { findTestsaslauthd } from './cli.js';
import { requestFrame } from './frames.js';
import { exchange } from './mux-client.js';

const DOVECOT = '/usr/sbin/dovecot';

export function dovecotSuiteProblems(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('it must run as root (Dovecot starts its auth service as its own users)');
  if (!existsSync(DOVECOT)) problems.push('dovecot is missing (apt-get install -y dovecot-core)');
  return problems;
}

export interface DovecotAuth {
  /** The auth-client socket, what Postfix's smtpd_sasl_path names. */
  readonly socketPath: string;
  stop(): Promise<void>;
}

/**
 * Dovecot's auth service on a passwd-file whose values are crypt strings (scheme=CRYPT); with
 * `oauth2`, its oauth2 passdb too (for OAUTHBEARER and XOAUTH2), with these dovecot-oauth2.conf.ext lines.
 */
export async function startDovecotAuth(dir: string, passwdFile: string, oauth2?: readonly string[]): Promise<DovecotAuth> {
  mkdirSync(path.join(dir, 'run'), { recursive: true });
  mkdirSync(path.join(dir, 'state'), { recursive: true });
  chmodSync(dir, 0o755);
  const conf = path.join(dir, 'dovecot.conf');
  writeFileSync(
    conf,
    [
      `base_dir = ${dir}/run`,
      `state_dir = ${dir}/state`,
      `log_path = ${dir}/log`,
      'protocols =',
      'ssl = no',
      'disable_plaintext_auth = no',
      `auth_mechanisms = plain login${oauth2 ? ' oauthbearer xoauth2' : ''}`,
      // Its 2 s pause after a failure would only make the suite slow.
      'auth_failure_delay = 0',
      'passdb {',
      '  driver = passwd-file',
      `  args = scheme=CRYPT username_format=%u ${passwdFile}`,
      ...(oauth2 ? ['  mechanisms = plain login'] : []),
      '}',
      ...(oauth2 ? ['passdb {', '  driver = oauth2', '  mechanisms = xoauth2 oauthbearer', `  args = ${dir}/dovecot-oauth2.conf.ext`, '}'] : []),
      'userdb {',
      '  driver = static',
      '  args = uid=nobody gid=nogroup home=/nonexistent',
      '}',
      'service auth {',
      '  unix_listener auth-client {',
      '    mode = 0666',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  if (oauth2) writeFileSync(path.join(dir, 'dovecot-oauth2.conf.ext'), `${oauth2.join('\n')}\n`);
  const socketPath = path.join(dir, 'run', 'auth-client');
  const master: ChildProcess = spawn(DOVECOT, ['-c', conf, '-F'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => master.once('exit', () => resolve()));
  await eventually(() => existsSync(socketPath), 15_000, 100);
  return {
    socketPath,
    async stop() {
      if (master.exitCode === null && master.signalCode === null) master.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    },
  };
}

/**
 * Dovecot's IMAP and POP3 programs, unpacked by .ci/unpack-dovecot-mail: Debian's packages for
 * them conflict with Cyrus IMAP's, which the Cyrus suite needs installed.
 */
export const MAIL_PROGRAMS = new URL('../../build/dovecot-mail/usr/lib/dovecot', import.meta.url).pathname;

export interface DovecotMail {
  readonly ports: { readonly imap: number; readonly pop3: number; readonly sieve: number };
  /** Dovecot's own log, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * A private Dovecot serving IMAP, POP3 and ManageSieve on loopback ports, with the passdb
 * given (its lines, between "passdb {" and "}") or the settings given (a passdb among them),
 * and a static userdb under `dir`. Loopback is a
 * trusted network, so Dovecot's own per-address penalty stays out of the way of the daemon's.
 */
export async function startDovecotMail(dir: string, options: { readonly passdb?: readonly string[]; readonly settings?: string; readonly ports: DovecotMail['ports'] }): Promise<DovecotMail> {
  for (const sub of ['run', 'state', 'mail']) mkdirSync(path.join(dir, sub), { recursive: true });
  chmodSync(dir, 0o755);
  // Mailboxes are made as the static userdb's user.
  chmodSync(path.join(dir, 'mail'), 0o777);
  const conf = path.join(dir, 'dovecot.conf');
  const logFile = path.join(dir, 'log');
  const { imap, pop3, sieve } = options.ports;
  writeFileSync(
    conf,
    [
      `base_dir = ${dir}/run`,
      `state_dir = ${dir}/state`,
      `log_path = ${logFile}`,
      'protocols = imap pop3 sieve',
      'listen = 127.0.0.1',
      'ssl = no',
      'disable_plaintext_auth = no',
      'auth_mechanisms = plain login',
      'auth_failure_delay = 0',
      'login_trusted_networks = 127.0.0.0/8',
      // As an administrator's conf.d file would add them (dovecot-config's output, say).
      options.settings ?? '',
      ...(options.passdb ? ['passdb {', ...options.passdb.map((line) => `  ${line}`), '}'] : []),
      'userdb {',
      '  driver = static',
      `  args = uid=nobody gid=nogroup home=${dir}/mail/%u`,
      '}',
      `mail_location = maildir:${dir}/mail/%u/Maildir`,
      // Login processes that stay and serve many connections (Dovecot's high-performance mode): logins made at once
      // reach the auth process at once, rather than one process start after another on a loaded machine.
      `service imap-login {\n  executable = ${MAIL_PROGRAMS}/imap-login\n  service_count = 0\n  process_min_avail = 1\n  inet_listener imap {\n    port = ${imap}\n  }\n  inet_listener imaps {\n    port = 0\n  }\n}`,
      `service pop3-login {\n  executable = ${MAIL_PROGRAMS}/pop3-login\n  service_count = 0\n  process_min_avail = 1\n  inet_listener pop3 {\n    port = ${pop3}\n  }\n  inet_listener pop3s {\n    port = 0\n  }\n}`,
      ...['imap', 'pop3', 'imap-hibernate', 'imap-urlauth', 'imap-urlauth-login', 'imap-urlauth-worker'].map((service) => `service ${service} {\n  executable = ${MAIL_PROGRAMS}/${service}\n}`),
      `service managesieve-login {\n  inet_listener sieve {\n    port = ${sieve}\n  }\n}`,
      '',
    ].join('\n'),
  );
  const master: ChildProcess = spawn(DOVECOT, ['-c', conf, '-F'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => master.once('exit', () => resolve()));
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const stop = async () => {
    if (master.exitCode === null && master.signalCode === null) master.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
  };
  try {
    await eventually(() => /starting up for imap, pop3, sieve/.test(log()) && existsSync(path.join(dir, 'run', 'login')), 15_000, 100);
  } catch (error) {
    await stop();
    throw new Error(`dovecot did not start: ${(error as Error).message}\n${log()}`);
  }
  return { ports: options.ports, log, stop };
}

/** A Dovecot SQL passdb on the seeded mailbox table (md5crypt values), its file written under `dir`: the reference the daemon is compared with. */
export function sqlPassdb(dir: string, mysqlPort: number, account = { user: 'database', password: 'password' }): string[] {
  const file = path.join(dir, 'dovecot-sql.conf.ext');
  writeFileSync(
    file,
    [
      'driver = mysql',
      `connect = host=127.0.0.1 port=${mysqlPort} dbname=postfix user=${account.user} password=${account.password}`,
      'default_pass_scheme = MD5-CRYPT',
      "password_query = SELECT username AS user, password FROM mailbox WHERE username = '%u' AND active = '1'",
      '',
    ].join('\n'),
  );
  return ['driver = sql', `args = ${file}`];
}

/** The daemon's auth records for a name and a service, oldest first. */
export function authRecordsOf(records: () => Array<Record<string, unknown>>, user: string, service: string): Record<string, unknown>[] {
  return records().filter((record) => record.event === 'auth' && record.user === user && record.service === service);
}

/** An SMTP guess as Postfix's smtpd makes it through Cyrus SASL: testsaslauthd on the mux socket. Its output line. */
export function smtpGuess(muxSocket: string, user: string, password: string): string {
  return spawnSync(findTestsaslauthd(), ['-f', muxSocket, '-s', 'smtp', '-u', user, '-p', password], { encoding: 'utf8' }).stdout;
}


/** An SMTP login as Cyrus SASL 2.2 asks it, with the client's address in the fifth field (testsaslauthd sends none): the reply. */
export async function smtpLoginFrom(muxSocket: string, user: string, password: string, address: string): Promise<string | undefined> {
  return (await exchange(muxSocket, requestFrame({ login: user, password, service: 'smtp', realm: '', clientAddress: `${address};25` }))).reply;
}

/** What a private Dovecot mail server may need beyond dovecot-core: each with the files that show it is there, and the package that brings them. */
const MAIL_PARTS = {
  lua: { files: ['/usr/lib/dovecot/modules/auth/libauthdb_lua.so', '/usr/lib/x86_64-linux-gnu/lua/5.3/socket/unix.so'], install: 'dovecot-auth-lua lua-socket' },
  mysql: { files: ['/usr/lib/dovecot/modules/auth/libdriver_mysql.so'], install: 'dovecot-mysql' },
  managesieve: { files: ['/usr/lib/dovecot/managesieve'], install: 'dovecot-managesieved' },
} as const;

/** Stops a suite that needs a private Dovecot IMAP and POP3 server (and these parts) with what to install: the suites never skip. */
export function requireDovecotMail(suite: string, parts: ReadonlyArray<keyof typeof MAIL_PARTS>): void {
  const problems = dovecotSuiteProblems();
  for (const part of parts) {
    const missing = MAIL_PARTS[part].files.filter((file) => !existsSync(file));
    if (missing.length > 0) problems.push(`${missing.join(', ')} missing (apt-get install -y ${MAIL_PARTS[part].install})`);
  }
  if (!existsSync(path.join(MAIL_PROGRAMS, 'imap'))) problems.push('Dovecot IMAP and POP3 are not unpacked (bash .ci/unpack-dovecot-mail)');
  if (problems.length > 0) throw new Error(`the ${suite} suite cannot run: ${problems.join('; ')}`);
}

