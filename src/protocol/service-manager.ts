/**
 * Telling systemd how the service stands (sd_notify): ready once every
 * socket listens, reloading and ready again around a SIGHUP, stopping at
 * shutdown. Only when systemd asks for it ($NOTIFY_SOCKET, set for a
 * Type=notify unit): `systemctl start` then returns once the daemon serves,
 * and fails when the daemon exits first (a configuration it refuses).
 * Node cannot send the datagram this takes, so the small native addon
 * native/src/notify_addon.c does.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Same place from dist/protocol and, under the test runner, from src/protocol. */
export const NOTIFY_ADDON_FILE = fileURLToPath(new URL('../../native/build/Release/saslauthd_mysql_notify.node', import.meta.url));

interface NotifyBinding {
  notify(socketPath: string, message: string): void;
}

export type ServiceState = 'ready' | 'reloading' | 'stopping';

/** What came of telling: sent, nobody asked (no $NOTIFY_SOCKET), or why it could not be sent. */
export type Told = { readonly kind: 'sent' } | { readonly kind: 'not-asked' } | { readonly kind: 'failed'; readonly reason: string };

let binding: NotifyBinding | null | undefined;

function notifyBinding(): NotifyBinding | null {
  if (binding !== undefined) return binding;
  try {
    const loaded = existsSync(NOTIFY_ADDON_FILE) ? (createRequire(import.meta.url)(NOTIFY_ADDON_FILE) as NotifyBinding) : null;
    binding = loaded && typeof loaded.notify === 'function' ? loaded : null;
  } catch {
    binding = null;
  }
  return binding;
}

function messageFor(state: ServiceState, status: string | undefined): string {
  const lines = state === 'ready' ? ['READY=1', `MAINPID=${process.pid}`] : state === 'reloading' ? ['RELOADING=1', `MONOTONIC_USEC=${monotonicMicroseconds()}`] : ['STOPPING=1'];
  // STATUS= is one line that `systemctl status` shows.
  if (status) lines.push(`STATUS=${status.replace(/[\r\n]+/g, ' ')}`);
  return `${lines.join('\n')}\n`;
}

/** CLOCK_MONOTONIC in microseconds, which systemd pairs with RELOADING=1. */
function monotonicMicroseconds(): string {
  return (process.hrtime.bigint() / 1000n).toString();
}

/** Tell systemd the service's state, when it asked to be told. */
export function tellServiceManager(state: ServiceState, status?: string, environment: NodeJS.ProcessEnv = process.env): Told {
  const socketPath = environment.NOTIFY_SOCKET;
  if (!socketPath) return { kind: 'not-asked' };
  const addon = notifyBinding();
  if (!addon) return { kind: 'failed', reason: `the native addon is not built (${NOTIFY_ADDON_FILE}): build it (npm run build), or run the unit as Type=exec` };
  try {
    addon.notify(socketPath, messageFor(state, status));
    return { kind: 'sent' };
  } catch (error) {
    return { kind: 'failed', reason: (error as Error).message };
  }
}
