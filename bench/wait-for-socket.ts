/** Waits for a freshly spawned daemon to listen on its socket, failing fast if it exits first. */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';

/**
 * Whether something accepts connections at the path now. The file alone is not enough:
 * it appears at bind(), a moment before listen(), and a connection in between is refused.
 */
export function acceptsConnections(socketPath: string): Promise<boolean> {
  if (!existsSync(socketPath)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const socket = net.connect({ path: socketPath });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitForSocket(socketPath: string, child: ChildProcess | undefined, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await acceptsConnections(socketPath))) {
    if (child && child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode} before listening on ${socketPath}`);
    if (Date.now() > deadline) throw new Error(`nothing listens on ${socketPath}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
