/** Waits for a freshly spawned daemon to create its socket, failing fast if it exits first. */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export async function waitForSocket(socketPath: string, child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(socketPath)) {
    if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode} before creating ${socketPath}`);
    if (Date.now() > deadline) throw new Error(`no socket at ${socketPath}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
