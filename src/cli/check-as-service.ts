/**
 * "check" run as root for the installed service: the settings' files and the
 * lookup are checked by a second check process running as the service's own
 * user, started under setpriv (util-linux, on every Debian and RHEL host)
 * with the service's environment. Root reads every file, and MariaDB lets
 * root in by its unix_socket plugin where the service's account would be
 * refused; only a process running as that user finds out what it will meet.
 *
 * The second process writes every finding on its standard output as
 * "ok:", "warn:" or "problem:" lines, its first line saying whom it ran as;
 * anything else (setpriv missing, node or the program unreadable to that
 * user) means it did not run, and the caller says so and checks as root.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface ServiceAccount {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

export type FindingKind = 'ok' | 'warn' | 'problem';

export interface Finding {
  readonly kind: FindingKind;
  readonly text: string;
}

/** Ran: its findings, the first saying whom it ran as. */
export type ChildCheck = { readonly ran: true; readonly findings: readonly Finding[] } | { readonly ran: false; readonly why: string };

export interface ChildCheckOptions {
  readonly user?: string;
  readonly realm: string;
  readonly service: string;
  /** The lookup's own time limit; the process gets this plus a margin to start and stop. */
  readonly timeoutMs: number;
}

/** The hidden option that makes a check the second process (program.ts). */
export const AS_SERVICE_OPTION = '--as-service-account';

/** The first line the second process writes, before anything else. */
export function childHeader(account: ServiceAccount): string {
  return `the settings' files and the lookup checked as ${account.name} (uid ${account.uid}, gid ${account.gid}), the service's user`;
}

/** Where a service started by systemd finds its programs when the unit says nothing. */
const SYSTEMD_DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin';

/** Time for node to start and the process to stop, beyond the lookup's own limit. */
const START_AND_STOP_MS = 15_000;

/** Bytes kept of what the second process writes: a report is a few lines. */
const MAX_OUTPUT_BYTES = 256 * 1024;

/** The program's entry point: the build's main.js (under the test runner this module is TypeScript source, and its twin in dist/ is run). */
export function programFile(): string {
  const sibling = fileURLToPath(new URL('./main.js', import.meta.url));
  if (existsSync(sibling)) return sibling;
  return sibling.replace(/\/src\/cli\/main\.js$/, '/dist/cli/main.js');
}

/** Run "check" as `account`, with exactly `env` (the service's environment) and no daemon flags. */
export function checkAsAccount(account: ServiceAccount, env: Readonly<Record<string, string>>, options: ChildCheckOptions): Promise<ChildCheck> {
  const args = [
    `--reuid=${account.uid}`,
    `--regid=${account.gid}`,
    '--init-groups',
    '--',
    process.execPath,
    programFile(),
    'check',
    AS_SERVICE_OPTION,
    '--realm',
    options.realm,
    '--service',
    options.service,
    '--timeout',
    String(options.timeoutMs),
    ...(options.user === undefined ? [] : ['--user', options.user]),
  ];
  return new Promise((resolve) => {
    let output = '';
    let errors = '';
    const keep = (kept: string, chunk: Buffer) => (kept.length < MAX_OUTPUT_BYTES ? kept + chunk.toString('utf8') : kept);
    const child = spawn('setpriv', args, {
      env: { PATH: SYSTEMD_DEFAULT_PATH, LANG: 'C.UTF-8', ...env },
      cwd: '/',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs + START_AND_STOP_MS,
    });
    child.stdout.on('data', (chunk: Buffer) => (output = keep(output, chunk)));
    child.stderr.on('data', (chunk: Buffer) => (errors = keep(errors, chunk)));
    child.once('error', (error) => resolve({ ran: false, why: `setpriv could not be started (${error.message})` }));
    child.once('close', (code, signal) => {
      const findings = parseFindings(output);
      const first = findings[0];
      if ((code === 0 || code === 1) && first?.kind === 'ok' && first.text === childHeader(account)) {
        resolve({ ran: true, findings });
        return;
      }
      const said = errors.trim().split('\n')[0] ?? '';
      const how = signal ? `stopped by ${signal}` : `exit status ${code}`;
      resolve({ ran: false, why: `${how}${said ? `: ${said.slice(0, 300)}` : ''}` });
    });
  });
}

/** The finding lines of a check's output; a last summary line and anything else are left out. */
export function parseFindings(output: string): Finding[] {
  const findings: Finding[] = [];
  for (const line of output.split('\n')) {
    const match = /^(ok|warn|problem): (.*)$/.exec(line);
    if (match) findings.push({ kind: match[1] as FindingKind, text: match[2]! });
  }
  return findings;
}
