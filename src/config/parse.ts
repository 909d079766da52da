/**
 * Small parsers for configuration values. Each throws a ConfigError naming the
 * key the value came from (a flag or an environment variable).
 */
import { ConfigError, NOT_REPEATED } from '../errors.js';

/** pam_mysql's rule, kept for familiarity: false only for 0, N, false, no. */
const FALSE_WORDS = new Set(['0', 'n', 'false', 'no']);

export function parseBoolean(key: string, value: string): boolean {
  if (value.trim() === '') throw new ConfigError(key, 'expected a boolean, got an empty value');
  return !FALSE_WORDS.has(value.trim().toLowerCase());
}

export function parseInteger(key: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim())) throw new ConfigError(key, `expected a whole number (${NOT_REPEATED})`);
  const parsed = Number(value.trim());
  if (parsed < min || parsed > max) throw new ConfigError(key, `must be between ${min} and ${max}, got ${parsed}`);
  return parsed;
}

export function parseFileMode(key: string, value: string): number {
  if (!/^0?[0-7]{3}$/.test(value.trim())) throw new ConfigError(key, `expected an octal mode such as 0660 (${NOT_REPEATED})`);
  return Number.parseInt(value.trim(), 8);
}

export function parseChoice<T extends string>(key: string, value: string, choices: readonly T[]): T {
  const found = choices.find((choice) => choice === value.trim().toLowerCase());
  if (found === undefined) throw new ConfigError(key, `must be one of ${choices.join(', ')} (${NOT_REPEATED})`);
  return found;
}
