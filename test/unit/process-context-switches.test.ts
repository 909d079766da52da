/**
 * The benchmarks' count of a process's context switches (bench/process-cpu.ts),
 * which bench:throttle-store prints per login: it must count every thread's,
 * and a process that is gone must read as none rather than fail the run.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { contextSwitches } from '../../bench/process-cpu.js';

describe('contextSwitches', () => {
  it('counts a process that sleeps and wakes, and only while it runs', async () => {
    // Each await on a timer blocks the process in epoll_wait and wakes it: one voluntary switch at least.
    const sleeps = 50;
    const child = spawn(process.execPath, ['-e', `(async () => { for (let i = 0; i < ${sleeps}; i += 1) await new Promise((r) => setTimeout(r, 2)); process.stdout.write('done'); setInterval(() => {}, 1000); })()`], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await once(child.stdout, 'data');
      const counted = contextSwitches(child.pid!);
      expect(counted).toBeGreaterThanOrEqual(sleeps);
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    expect(contextSwitches(child.pid!)).toBe(0);
  });
});
