/**
 * Runs the built command-line program as a real process, the way an
 * administrator or systemd would.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterThisTest } from './cleanup.js';

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/**
 * The build the process tests run: this checkout's, or another's dist/cli/main.js named by
 * TEST_CLI_BUILD, to see an attack test fail on an older build (TEST_CLI_BUILD=/old/dist/cli/main.js npx vitest run test/security/...).
 */
export const CLI = process.env.TEST_CLI_BUILD ?? fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does it for you)`);
}

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a command to completion (bounded), collecting its output. */
export function run(command: string, args: string[], options: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv; stdin?: string } = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? PROJECT_ROOT, env: options.env ?? process.env, stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (options.stdin !== undefined) child.stdin!.end(options.stdin);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${options.timeoutMs ?? 10_000} ms`));
    }, options.timeoutMs ?? 10_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export function runCli(args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Finished> {
  assertBuilt();
  return run(process.execPath, [CLI, ...args], options);
}

/**
 * Run the CLI as a user without privileges would run: as root (CI), with every
 * capability dropped (util-linux setpriv), so that file permissions bind it as
 * they bind the daemon's own user. Its files stay readable: they belong to root.
 */
export function runCliUnprivileged(args: string[], options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Finished> {
  assertBuilt();
  if (process.getuid?.() !== 0) return run(process.execPath, [CLI, ...args], options);
  return run('setpriv', ['--bounding-set=-all', '--inh-caps=-all', process.execPath, CLI, ...args], options);
}

export interface DaemonProcess {
  readonly child: ChildProcess;
  /** Every line the daemon has written to stdout and stderr so far. */
  output(): string;
  /** JSON log records from stdout (when not in -d mode). */
  records(): Array<Record<string, unknown>>;
  waitForOutput(text: string, timeoutMs?: number): Promise<void>;
  /** Send a signal and wait for the exit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Start the daemon and wait until it says it is listening. It is killed after
 * the current test, unless forSuite is set (then the caller stops it).
 */
export async function spawnDaemon(args: string[], options: { forSuite?: boolean; env?: NodeJS.ProcessEnv; program?: string } = {}): Promise<DaemonProcess> {
  assertBuilt();
  // `program`: an installed saslauthd-mysql instead of this checkout's build.
  const [command, commandArgs] = options.program ? [options.program, args] : [process.execPath, [CLI, ...args]];
  const child = spawn(command, commandArgs, { cwd: PROJECT_ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (!options.forSuite) afterThisTest(() => (child.exitCode === null && child.signalCode === null ? child.kill('SIGKILL') : undefined));
  let output = '';
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // 'close', not 'exit': it comes after the output has been read to its end, so records() holds every line.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));

  const daemon: DaemonProcess = {
    child,
    output: () => output,
    records: () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    async waitForOutput(text, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!output.includes(text)) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`daemon exited (${child.exitCode ?? child.signalCode}) before printing "${text}":\n${output}`);
        if (Date.now() > deadline) throw new Error(`daemon did not print "${text}" within ${timeoutMs} ms:\n${output}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`daemon did not exit within ${timeoutMs} ms of ${signal}`)), timeoutMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
  await daemon.waitForOutput('listening');
  return daemon;
}

/** The real Cyrus client. Missing means the run fails with what to install: the end-to-end suites never skip. */
export function findTestsaslauthd(): string {
  for (const candidate of ['/usr/sbin/testsaslauthd', '/usr/bin/testsaslauthd']) {
    try {
      execFileSync(candidate, [], { stdio: 'ignore' });
    } catch (error) {
      // testsaslauthd without arguments prints its usage and exits 1: it is there.
      if ((error as { status?: number }).status === 1) return candidate;
    }
  }
  throw new Error('testsaslauthd not found: install the Debian package sasl2-bin (apt-get install -y sasl2-bin). The end-to-end suite must not be skipped.');
}
