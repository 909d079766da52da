/**
 * --throttle-store, its key file and its deadline, checked together (each is
 * useless without the store): where the throttle's counts are shared with the
 * other mail hosts (src/auth/redis-throttle-store.ts), and the secret its
 * digests are keyed with.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.js';
import type { ThrottleSettings } from '../auth/throttle.js';
import { exposedSecretWarning } from '../common/exposed-file.js';
import type { OptionReader } from './option-reader.js';

export interface ThrottleStoreConfig {
  /** redis:// or rediss://, with any credentials it carries (never printed: describe it with RedisThrottleStore.describe). */
  readonly url: string;
  readonly deadlineMs: number;
  /** The shared secret for the digests, from --throttle-store-key-file; absent: plain SHA-256. */
  readonly digestKey?: string;
  /** Said once at start-up: an exposed key file, or no key at all. */
  readonly warnings: readonly string[];
}

/** The shortest shared secret accepted for the digests: HMAC under a guessable key would be no better than none. */
export const MIN_THROTTLE_STORE_KEY_BYTES = 16;

/** --throttle-store, its key file and its deadline: checked together, since each is useless without the store. */
export function resolveThrottleStore(read: OptionReader, cwd: string, throttle: ThrottleSettings): { throttleStore?: ThrottleStoreConfig } {
  const store = read.text('throttleStore');
  const keyFile = read.text('throttleStoreKeyFile');
  const timeout = read.text('throttleStoreTimeout');
  const deadlineMs = read.number('throttleStoreTimeout');
  if (!store) {
    const stray = keyFile ?? timeout;
    if (stray) throw new ConfigError(stray.key, 'only means something with --throttle-store (SASLAUTHD_MYSQL_THROTTLE_STORE): set that too, or remove this');
    return {};
  }
  let url: URL;
  try {
    url = new URL(store.value.trim());
  } catch {
    throw new ConfigError(store.key, 'expected a Redis URL: redis://[user:password@]host:port[/db], or rediss:// for TLS');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new ConfigError(store.key, `expected redis:// or rediss://, not ${url.protocol}//`);
  if (!/^\/?\d*$/.test(url.pathname)) throw new ConfigError(store.key, 'the path is the database number, such as redis://127.0.0.1:6379/2');
  if (throttle.afterFailures <= 0) throw new ConfigError(store.key, "shares the throttle's counts, but --throttle-after 0 turns the throttle off: remove one of them");
  const warnings: string[] = [];
  let digestKey: string | undefined;
  if (keyFile) {
    const file = path.resolve(cwd, keyFile.value);
    try {
      digestKey = readFileSync(file, 'utf8').trim();
    } catch (error) {
      throw new ConfigError(keyFile.key, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    if (Buffer.byteLength(digestKey) < MIN_THROTTLE_STORE_KEY_BYTES) {
      throw new ConfigError(keyFile.key, `${file} holds ${Buffer.byteLength(digestKey)} bytes; use ${MIN_THROTTLE_STORE_KEY_BYTES} or more, the same file on every host (e.g. openssl rand -base64 32 > ${file})`);
    }
    // A new key in the same file is a change a reload cannot apply: its digest stands for it.
    read.note('throttleStoreKeyFile', { file, key: createHash('sha256').update(digestKey).digest('base64url') });
    const exposed = exposedSecretWarning(file, "the throttle store's digest key");
    if (exposed) warnings.push(exposed);
  } else {
    warnings.push('the throttle store holds plain SHA-256 digests of user names and client addresses, which anyone who can read Redis can test guesses against: give every host the same --throttle-store-key-file');
  }
  return { throttleStore: { url: store.value.trim(), deadlineMs, ...(digestKey !== undefined ? { digestKey } : {}), warnings } };
}
