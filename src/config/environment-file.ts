/**
 * The unit's EnvironmentFile= (/etc/default/saslauthd-mysql, /etc/sysconfig/saslauthd-mysql), read again at a
 * reload. systemd reads it only when it starts the daemon, so without this a
 * reload after editing it would change nothing while saying "reloaded". The
 * file's lines are laid over the environment the daemon started with; a line
 * taken out cannot be undone the same way (the unit's own Environment= may
 * have set the variable before the file did), so it is reported as needing a
 * restart instead.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

/** KEY=VALUE lines as systemd's EnvironmentFile= reads them: comments and blank lines skipped, one layer of quotes removed. */
export function parseEnvironmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    const value = match[2]!;
    env[match[1]!] = /^(["']).*\1$/.test(value) ? value.slice(1, -1) : value;
  }
  return env;
}

/** The file's variables now, or a ConfigError naming the file when it cannot be read. */
export function readEnvironmentFile(file: string): Record<string, string> {
  try {
    return parseEnvironmentFile(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError('--environment-file', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export interface ReloadedEnvironment {
  /** The start-up environment with the file's current lines laid over it. */
  readonly env: NodeJS.ProcessEnv;
  /** Variables the file set at start and no longer does: only a restart drops them. */
  readonly removed: readonly string[];
}

/** The environment a reload resolves its configuration from, given the file's lines at start and now. */
export function reloadedEnvironment(startEnv: NodeJS.ProcessEnv, atStart: Record<string, string>, now: Record<string, string>): ReloadedEnvironment {
  return { env: { ...startEnv, ...now }, removed: Object.keys(atStart).filter((name) => !(name in now)) };
}
