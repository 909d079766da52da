/**
 * Dovecot's own auth service (Debian's dovecot-core), run from a private
 * configuration with no mail protocols at all, as the reference for the
 * daemon's Dovecot-protocol listener: the same passwd-file behind both, the
 * same clients in front. Its sockets, state and log are under the directory
 * it is given; the host's Dovecot is never touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { eventually } from './daemon.js';

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

/** Dovecot's auth service on a passwd-file whose values are crypt strings (scheme=CRYPT). */
export async function startDovecotAuth(dir: string, passwdFile: string): Promise<DovecotAuth> {
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
      'auth_mechanisms = plain login',
      // Its 2 s pause after a failure would only make the suite slow.
      'auth_failure_delay = 0',
      'passdb {',
      '  driver = passwd-file',
      `  args = scheme=CRYPT username_format=%u ${passwdFile}`,
      '}',
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
