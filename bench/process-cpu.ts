/**
 * CPU time read from /proc, for the benchmarks that report CPU per login:
 * utime + stime of a process or thread, in microseconds.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Microseconds per clock tick (the unit of /proc's utime and stime). */
export const TICK_US = 1e6 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || '100');

/** utime + stime from the fields after a stat line's "(comm) ". */
export function cpuOfStatFields(fields: readonly string[]): number {
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}

/** utime + stime of the thread or process whose stat file this is; 0 once it is gone. */
export function cpuOf(statFile: string): number {
  try {
    return cpuOfStatFields(readFileSync(statFile, 'utf8').split(') ')[1]!.split(' '));
  } catch {
    return 0;
  }
}

/** utime + stime of a process, in microseconds. */
export function processCpuMicros(pid: number): number {
  return cpuOf(`/proc/${pid}/stat`);
}

/**
 * Context switches of every thread of a process so far, voluntary or not,
 * from /proc: a thread that blocks with nothing to do and is woken again pays
 * one, which costs far more on some virtual machines than on others. A thread
 * that ended takes its count with it.
 */
export function contextSwitches(pid: number): number {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  let total = 0;
  for (const task of tasks) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
      total += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0) + Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return total;
}

/** The pid of a throwaway MariaDB, from the pid file in its data directory. */
export function mariadbPid(dataDir: string): number {
  return Number(readFileSync(path.join(dataDir, 'mysqld.pid'), 'utf8').trim());
}
