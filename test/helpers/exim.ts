/**
 * Exim 4 (Debian's exim4-daemon-heavy, unpacked into build/exim by
 * .ci/unpack-exim, since its package conflicts with Postfix's), run one SMTP
 * session at a time with -bs on a private configuration. Its saslauthd
 * socket path is compiled in (/var/run/saslauthd/mux) and it looks up its
 * own user (Debian-exim), so each session runs in a private mount namespace
 * where the daemon's socket directory is mounted on /run/saslauthd and a
 * copy of the user database names Debian-exim: the host's files and its own
 * saslauthd directory are never touched.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync, chownSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT, run } from './cli.js';

export const EXIM = path.join(PROJECT_ROOT, 'build', 'exim', 'usr', 'sbin', 'exim4');

/** What is missing for the Exim suite, as instructions. The suite fails on these: it never skips. */
export function eximSuiteProblems(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('it must run as root (a private mount namespace per session)');
  if (!existsSync(EXIM)) problems.push(`${EXIM} is missing: run .ci/unpack-exim (it unpacks Debian's exim4-daemon-heavy beside Postfix)`);
  if (!existsSync('/usr/bin/unshare')) problems.push('unshare is missing (util-linux)');
  // The mount point for the daemon's socket directory inside the namespace (sasl2-bin makes it).
  if (!existsSync('/run/saslauthd')) problems.push('/run/saslauthd is missing (apt-get install -y sasl2-bin creates it)');
  return problems;
}

export interface EximSetup {
  /** Run one SMTP session on stdin; returns Exim's replies. */
  session(lines: readonly string[], config?: string): Promise<string>;
  /** Write a configuration whose authenticators use this server_condition (for PLAIN; LOGIN gets the same with $auth1/$auth2). */
  config(name: string, plainCondition: string, loginCondition: string): string;
  /** Write a configuration whose PLAIN and LOGIN go through Exim's dovecot driver to this socket. */
  dovecotConfig(name: string, socket: string): string;
}

/** `socketDir` is the daemon's -m directory; its group must let the mail user (Exim drops to it) in. */
export function eximSetup(dir: string, socketDir: string): EximSetup {
  mkdirSync(dir, { recursive: true });
  const spool = path.join(dir, 'spool');
  const log = path.join(dir, 'log');
  for (const sub of [spool, log]) {
    mkdirSync(sub, { recursive: true });
    chownSync(sub, 8, 8);
  }
  // Debian-exim, as the mail user: only inside the namespace.
  const passwd = path.join(dir, 'passwd');
  const group = path.join(dir, 'group');
  copyFileSync('/etc/passwd', passwd);
  copyFileSync('/etc/group', group);
  appendFileSync(passwd, 'Debian-exim:x:8:8:Exim (test):/nonexistent:/usr/sbin/nologin\n');
  appendFileSync(group, 'Debian-exim:x:8:\n');
  const withAuthenticators = (name: string, authenticators: readonly string[]): string => {
    const file = path.join(dir, `${name}.conf`);
    writeFileSync(
      file,
      ['primary_hostname = exim-test', `spool_directory = ${spool}`, `log_file_path = ${log}/%slog`, 'acl_smtp_rcpt = accept', 'auth_advertise_hosts = *', 'begin authenticators', ...authenticators, ''].join('\n'),
      { mode: 0o644 },
    );
    return file;
  };
  const config = (name: string, plainCondition: string, loginCondition: string): string =>
    withAuthenticators(name, [
      'plain:',
      '  driver = plaintext',
      '  public_name = PLAIN',
      '  server_prompts = :',
      `  server_condition = ${plainCondition}`,
      '  server_set_id = $auth2',
      'login:',
      '  driver = plaintext',
      '  public_name = LOGIN',
      '  server_prompts = Username:: : Password::',
      `  server_condition = ${loginCondition}`,
      '  server_set_id = $auth1',
    ]);
  /** Exim's dovecot driver, asking Dovecot's auth protocol on `socket` (the daemon's --dovecot-socket). */
  const dovecotConfig = (name: string, socket: string): string =>
    withAuthenticators(
      name,
      ['PLAIN', 'LOGIN'].flatMap((mechanism) => [`dovecot_${mechanism.toLowerCase()}:`, '  driver = dovecot', `  public_name = ${mechanism}`, `  server_socket = ${socket}`, '  server_set_id = $auth1']),
    );
  const standard = config('exim', '${if saslauthd{{$auth2}{$auth3}{smtp}}}', '${if saslauthd{{$auth1}{$auth2}{smtp}}}');
  return {
    config,
    dovecotConfig,
    async session(lines, file = standard) {
      const script = `mount --bind ${socketDir} /run/saslauthd && mount --bind ${passwd} /etc/passwd && mount --bind ${group} /etc/group && exec ${EXIM} -C ${file} -bs`;
      const result = await run('/usr/bin/unshare', ['-m', 'sh', '-c', script], { stdin: lines.map((line) => `${line}\r\n`).join(''), timeoutMs: 20_000 });
      return result.stdout + result.stderr;
    },
  };
}

/** The log Exim wrote for the sessions (its main log), for failure messages. */
export function eximLog(dir: string): string {
  const file = path.join(dir, 'log', 'mainlog');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}
