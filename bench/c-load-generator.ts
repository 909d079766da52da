/**
 * The load benchmark's C client (bench/mux-load.c): blocking threads
 * that talk to the mux socket exactly as libsasl2 does. On a 2-core machine a
 * generator in Node takes a third of a core from the daemon it measures; this
 * one takes a few percent. Compiled on first use with the C compiler the
 * native addon already needs; without one, the benchmark says so and uses the
 * Node generator (load-generator.ts), which checks answers the same way.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadOptions, LoadResult } from './load-generator.js';
import type { OpenLoopOptions, OpenLoopResult } from './open-loop.js';

const SOURCE = fileURLToPath(new URL('./mux-load.c', import.meta.url));
const BINARY = fileURLToPath(new URL('../build/bench/mux-load', import.meta.url));

export type CGeneratorBuild = { readonly ok: true; readonly binary: string } | { readonly ok: false; readonly reason: string };

/** Compile mux-load unless an up-to-date binary is there. */
export function buildCGenerator(): CGeneratorBuild {
  if (!existsSync(SOURCE)) return { ok: false, reason: `${SOURCE} is missing` };
  if (existsSync(BINARY) && statSync(BINARY).mtimeMs >= statSync(SOURCE).mtimeMs) return { ok: true, binary: BINARY };
  mkdirSync(path.dirname(BINARY), { recursive: true });
  const cc = process.env.CC ?? 'cc';
  // Built under a private name and renamed: an interrupted build never leaves a fresh-looking broken binary.
  const partial = `${BINARY}.${process.pid}`;
  const result = spawnSync(cc, ['-O2', '-Wall', '-Wextra', '-pthread', '-o', partial, SOURCE, '-lm'], { encoding: 'utf8' });
  if (result.error) return { ok: false, reason: `${cc} could not run (${result.error.message}); apt-get install gcc` };
  if (result.status !== 0) {
    rmSync(partial, { force: true });
    return { ok: false, reason: `${cc} failed: ${result.stderr.trim().split('\n').slice(0, 3).join(' ')}` };
  }
  renameSync(partial, BINARY);
  return { ok: true, binary: BINARY };
}

interface CGeneratorReport {
  readonly requests: number;
  readonly elapsedMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly wrongAnswers: number;
  readonly noReply: number;
  /** Open loop: logins started more than 5 ms after they were due. */
  readonly late: number;
  readonly cpuPercent: number;
}

function parseReport(stdout: string): CGeneratorReport {
  const report = JSON.parse(stdout) as Record<string, unknown>;
  for (const field of ['requests', 'elapsedMs', 'p50Ms', 'p99Ms', 'p999Ms', 'maxMs', 'wrongAnswers', 'noReply', 'late', 'cpuPercent']) {
    if (typeof report[field] !== 'number' || !Number.isFinite(report[field])) throw new Error(`mux-load printed no number for ${field}: ${stdout.slice(0, 200)}`);
  }
  return report as unknown as CGeneratorReport;
}

/** The same closed loop as runLoad, run by mux-load; `observe` is not available (answers stay in C). */
export async function runCLoad(binary: string, options: Omit<LoadOptions, 'observe'>): Promise<LoadResult> {
  const report = await runMuxLoad(binary, options, options.clients, 0);
  return {
    requests: report.requests,
    perSecond: (report.requests * 1000) / report.elapsedMs,
    p50Ms: report.p50Ms,
    p99Ms: report.p99Ms,
    wrongAnswers: report.wrongAnswers,
    noReply: report.noReply,
    generatorCpuPercent: report.cpuPercent,
  };
}

/** Threads of the C open loop: Postfix's default process limit (smtpd processes that may wait on an answer at once). */
export const OPEN_LOOP_THREADS = 100;

/** The open loop of open-loop.ts, run by mux-load: the same schedule and counts, without a Node generator's CPU. */
export async function runCOpenLoop(binary: string, options: OpenLoopOptions, threads = OPEN_LOOP_THREADS): Promise<OpenLoopResult> {
  const report = await runMuxLoad(binary, { ...options, hotSet: 0, wrongPasswords: 'repeat' }, threads, options.ratePerSecond);
  return {
    offeredPerSecond: options.ratePerSecond,
    answeredPerSecond: ((report.requests - report.noReply) * 1000) / options.durationMs,
    p50Ms: report.p50Ms,
    p99Ms: report.p99Ms,
    p999Ms: report.p999Ms,
    maxMs: report.maxMs,
    wrongAnswers: report.wrongAnswers,
    noReply: report.noReply,
    generatorCpuPercent: report.cpuPercent,
    lateSends: report.late,
  };
}

type MuxLoadOptions = Pick<LoadOptions, 'socketPath' | 'durationMs' | 'wrongShare' | 'hotSet' | 'requestTimeoutMs' | 'service' | 'realm' | 'wrongPasswords' | 'users'>;

function runMuxLoad(binary: string, options: MuxLoadOptions, threads: number, rate: number): Promise<CGeneratorReport> {
  const argv = [
    options.socketPath,
    String(threads),
    String(options.durationMs),
    String(options.wrongShare),
    String(options.hotSet ?? 0),
    String(options.requestTimeoutMs ?? 10_000),
    options.service,
    options.realm,
    options.wrongPasswords ?? 'repeat',
    String(rate),
  ];
  // One "login<TAB>password" line per user on mux-load's stdin.
  const bad = options.users.find((user) => /[\t\n]/.test(user.login + user.password));
  if (bad) return Promise.reject(new Error(`mux-load takes no tab or newline in a login or password (user ${JSON.stringify(bad.login)})`));
  return new Promise((resolve, reject) => {
    const child = spawn(binary, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`mux-load exited with ${code}: ${stderr.trim()}`));
      try {
        resolve(parseReport(stdout));
      } catch (error) {
        reject(error);
      }
    });
    // mux-load refuses bad arguments before reading its users: the broken pipe is then no news, its exit status and stderr are.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.users.map((user) => `${user.login}\t${user.password}\n`).join(''));
  });
}
