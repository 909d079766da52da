/**
 * A real Postfix smtpd, run from a private configuration directory on
 * loopback high ports (postfix -c DIR with alternate_config_directories), and swaks to talk to it. The
 * instance touches nothing of the host's own Postfix: its queue, data
 * directory, log and TLS key all live under the directory it is given.
 */
import { expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { run } from './cli.js';
import { eventually } from './daemon.js';

const POSTFIX = '/usr/sbin/postfix';
const SWAKS = '/usr/bin/swaks';
const SASL_PLUGINS = ['/usr/lib/x86_64-linux-gnu/sasl2/libplain.so', '/usr/lib/sasl2/libplain.so'];

/** What is missing for the Postfix suite, as install instructions. The suite fails on these: it never skips. */
export function postfixSuiteProblems(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('it must run as root (postfix start runs the master as root)');
  if (!existsSync(POSTFIX)) problems.push('postfix is missing (apt-get install -y postfix)');
  if (!existsSync(SWAKS)) problems.push('swaks is missing (apt-get install -y swaks libnet-ssleay-perl libio-socket-ssl-perl)');
  if (!SASL_PLUGINS.some((file) => existsSync(file))) problems.push('the SASL PLAIN/LOGIN plugins are missing (apt-get install -y libsasl2-modules)');
  return problems;
}

export interface PostfixOptions {
  /** A directory of its own; made traversable for the postfix user. */
  readonly dir: string;
  /** The saslauthd socket smtpd's libsasl2 talks to. */
  readonly saslauthdPath: string;
  /** One smtpd per entry: its port, and extra `-o name=value` overrides. */
  readonly listeners: ReadonlyArray<{ readonly port: number; readonly overrides?: Readonly<Record<string, string>> }>;
  /** The libsasl2 file (smtpd.conf) as a distribution's guide writes it; saslauthd_path is added. */
  readonly saslConf?: string;
}

export interface PostfixInstance {
  readonly configDir: string;
  /** Postfix's own log (maillog_file), for failure messages. */
  maillog(): string;
  stop(): Promise<void>;
}

function userId(name: string): number {
  return Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startPostfix(options: PostfixOptions): Promise<PostfixInstance> {
  const root = options.dir;
  const configDir = path.join(root, 'conf');
  const queueDir = path.join(root, 'queue');
  const dataDir = path.join(root, 'data');
  const maillog = path.join(root, 'maillog');
  mkdirSync(path.join(configDir, 'sasl'), { recursive: true });
  mkdirSync(queueDir);
  mkdirSync(dataDir);
  // smtpd runs as the postfix user: it must reach the config and the socket.
  chmodSync(root, 0o755);
  chownSync(dataDir, userId('postfix'), -1);

  // A throwaway certificate: STARTTLS is required before AUTH, as on a real submission port.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', path.join(configDir, 'key.pem'), '-out', path.join(configDir, 'cert.pem')], { stdio: 'ignore' });

  writeFileSync(
    path.join(configDir, 'main.cf'),
    [
      'compatibility_level = 3.6',
      `queue_directory = ${queueDir}`,
      `data_directory = ${dataDir}`,
      'mail_owner = postfix',
      'setgid_group = postdrop',
      'myhostname = mx.test.invalid',
      'mydestination =',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      `maillog_file = ${maillog}`,
      `maillog_file_prefixes = ${root}`,
      'smtpd_sasl_auth_enable = yes',
      'smtpd_sasl_path = smtpd',
      `cyrus_sasl_config_path = ${path.join(configDir, 'sasl')}`,
      'smtpd_tls_security_level = may',
      'smtpd_tls_auth_only = yes',
      `smtpd_tls_cert_file = ${path.join(configDir, 'cert.pem')}`,
      `smtpd_tls_key_file = ${path.join(configDir, 'key.pem')}`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    path.join(configDir, 'master.cf'),
    [
      ...options.listeners.map(({ port, overrides = {} }) =>
        [`127.0.0.1:${port} inet n - n - - smtpd`, ...Object.entries(overrides).map(([name, value]) => `  -o ${name}=${value}`)].join('\n'),
      ),
      // Only what smtpd needs up to AUTH; nothing runs chrooted.
      'postlog unix-dgram n - n - 1 postlogd',
      'anvil unix - - n - 1 anvil',
      'tlsmgr unix - - n 1000? 1 tlsmgr',
      'proxymap unix - - n - - proxymap',
      'rewrite unix - - n - - trivial-rewrite',
      'cleanup unix n - n - 0 cleanup',
      '',
    ].join('\n'),
  );
  // Exactly what an administrator writes for Postfix + saslauthd.
  const saslConf = options.saslConf ?? 'pwcheck_method: saslauthd\nmech_list: PLAIN LOGIN\n';
  writeFileSync(path.join(configDir, 'sasl', 'smtpd.conf'), `${saslConf}saslauthd_path: ${options.saslauthdPath}\n`);

  const readLog = () => (existsSync(maillog) ? readFileSync(maillog, 'utf8') : '');
  const started = await run(POSTFIX, ['-c', configDir, 'start'], { timeoutMs: 30_000 });
  if (started.code !== 0) throw new Error(`postfix -c ${configDir} start failed (${started.code}): ${started.stderr}\n${readLog()}`);
  const instance: PostfixInstance = {
    configDir,
    maillog: readLog,
    async stop() {
      await run(POSTFIX, ['-c', configDir, 'stop'], { timeoutMs: 30_000 });
      // The master removes its pid file as it exits: wait for that, so nothing outlives the suite.
      const pidFile = path.join(queueDir, 'pid', 'master.pid');
      await eventually(() => !existsSync(pidFile) || !isRunning(Number(readFileSync(pidFile, 'utf8').trim())), 15_000, 100);
    },
  };
  try {
    for (const { port } of options.listeners) await eventually(() => portOpen(port), 15_000, 100);
  } catch (error) {
    await instance.stop();
    throw new Error(`postfix did not listen: ${(error as Error).message}\n${readLog()}`);
  }
  return instance;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface SmtpAuthResult {
  /** The SMTP reply to AUTH: 235, 535 or 454 (undefined when AUTH was never answered). */
  readonly code: number | undefined;
  /** That reply line, e.g. "535 5.7.8 Error: authentication failed: ...". */
  readonly reply: string | undefined;
  readonly transcript: string;
}

/** One SMTP session with swaks: EHLO, STARTTLS (unless tls is false), AUTH, QUIT. */
export async function swaksAuth(options: { port: number; mechanism: 'PLAIN' | 'LOGIN'; user: string; password: string; tls?: boolean }): Promise<SmtpAuthResult> {
  const args = ['--server', `127.0.0.1:${options.port}`, '--auth', options.mechanism, '--auth-user', options.user, '--auth-password', options.password, '--quit-after', 'AUTH', '--timeout', '20'];
  if (options.tls !== false) args.push('--tls');
  const finished = await run(SWAKS, args, { timeoutMs: 60_000 });
  const transcript = finished.stdout + finished.stderr;
  // Server lines are "<~ " after STARTTLS ("<~*" for errors); the AUTH answer is the one 2xx/4xx/5xx that ends the exchange.
  const match = /^<~\*?\s+((235|454|535) .*)$/m.exec(transcript);
  return { code: match ? Number(match[2]) : undefined, reply: match?.[1], transcript };
}

/** Through Postfix, at one stage of a switch: AUTH PLAIN and LOGIN with the right password get 235, a wrong one 535. */
export async function expectPostfixLogins(postfix: PostfixInstance, port: number, stage: string, login: { readonly user: string; readonly password: string; readonly wrong: string }): Promise<void> {
  const right = await swaksAuth({ port, mechanism: 'PLAIN', user: login.user, password: login.password });
  expect(right.code, `${stage}: right password\n${right.transcript}\n${postfix.maillog().slice(-2000)}`).toBe(235);
  const viaLogin = await swaksAuth({ port, mechanism: 'LOGIN', user: login.user, password: login.password });
  expect(viaLogin.code, `${stage}: AUTH LOGIN`).toBe(235);
  const wrong = await swaksAuth({ port, mechanism: 'PLAIN', user: login.user, password: login.wrong });
  expect(wrong.code, `${stage}: wrong password`).toBe(535);
}
