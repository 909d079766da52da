/** "name", "name:port", "[v6]:port" or "/path/to/socket", as pam_mysql's host= and the hosts key take them. */
import type { HostAddress } from './settings.js';

export const DEFAULT_PORT = 3306;

export function parseHostAddress(text: string): HostAddress | undefined {
  const value = text.trim();
  if (value === '') return undefined;
  if (value.startsWith('/')) return { socketPath: value };
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
  if (bracketed) return { host: bracketed[1]!, port: Number(bracketed[2] ?? DEFAULT_PORT) };
  const match = /^([^:\s]+)(?::(\d+))?$/.exec(value);
  if (!match) return undefined;
  const port = Number(match[2] ?? DEFAULT_PORT);
  if (port < 1 || port > 65535) return undefined;
  return { host: match[1]!, port };
}
