/**
 * Small parsers for configuration values. Each throws a ConfigError naming the
 * key the value came from (a flag or an environment variable).
 */
import { ConfigError, NOT_REPEATED } from '../errors.js';

const TRUE_WORDS = new Set(['1', 'yes', 'on', 'true']);
const FALSE_WORDS = new Set(['0', 'no', 'off', 'false']);

/** The usual spellings of yes and no, in any case; anything else is refused, never read as yes. */
export function parseBoolean(key: string, value: string): boolean {
  const word = value.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  throw new ConfigError(key, `expected 1, yes, on or true, or 0, no, off or false (${NOT_REPEATED})`);
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
