/**
 * The daemon's configuration, resolved once at start-up: a command-line flag
 * wins, then an environment variable (SASLAUTHD_MYSQL_*), then the default.
 * The result is validated and frozen; a bad value stops start-up with a
 * message naming the flag or variable it came from.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import type { Level } from 'pino';
import { ConfigError } from '../errors.js';
import type { RealmPolicy } from '../realm/login-key.js';
import { DEFAULT_SCHEMES, parseDefaultScheme, type DefaultScheme } from '../crypt/default-scheme.js';
import { availableParallelism } from 'node:os';
import type { ConnectionTimeouts } from '../protocol/connection.js';
import { LOG_LEVELS } from '../log/logger.js';
import { parseBoolean, parseChoice, parseFileMode, parseInteger } from './parse.js';
import { resolveGroupId } from './group.js';
import { DB_ENV_PREFIX, KEYS as DB_KEYS, loadNativeSettings, loadTuning, type ConnectionTuning } from '../backends/mysql/native-config.js';
import type { MysqlBackendSettings } from '../backends/mysql/settings.js';
import type { ThrottleSettings } from '../auth/throttle.js';

export const MECHANISMS = ['passwd-file', 'pam', 'mysql'] as const;
export const CRYPT_ENGINES = ['auto', 'native', 'js'] as const;
export type CryptEngine = (typeof CRYPT_ENGINES)[number];
export type Mechanism = (typeof MECHANISMS)[number];

export const ENV_PREFIX = 'SASLAUTHD_MYSQL_';
export const SOCKET_NAME = 'mux';

/** Every SASLAUTHD_MYSQL_* variable the daemon reads (besides SASLAUTHD_MYSQL_DB_*). */
export const ENV_NAMES = [
  'MECH', 'RUN_DIR', 'PASSWD_FILE', 'DB_CONFIG', 'PAM_DIR', 'REALM_JOIN', 'DEFAULT_REALM', 'LOWERCASE', 'DEFAULT_SCHEME',
  'CACHE', 'CACHE_TTL', 'CACHE_SIZE', 'VERIFY_CACHE', 'OUTAGE_TTL', 'VERIFY_THREADS', 'VERIFY_QUEUE', 'CRYPT_ENGINE',
  'SOCKET_MODE', 'SOCKET_GROUP', 'READ_TIMEOUT', 'ANSWER_TIMEOUT', 'MAX_CONNECTIONS', 'SHUTDOWN_GRACE',
  'THROTTLE_AFTER', 'THROTTLE_MAX_DELAY', 'THROTTLE_WINDOW', 'METRICS_PORT', 'METRICS_ADDRESS', 'WORKERS', 'DEBUG', 'LOG_LEVEL', 'LOG_SUCCESSES',
] as const;

/** Every variable name the daemon reads, the database ones included. */
export function knownVariableNames(): ReadonlySet<string> {
  return new Set([...ENV_NAMES.map((name) => ENV_PREFIX + name), `${DB_ENV_PREFIX}URL`, ...DB_KEYS.map((key) => DB_ENV_PREFIX + key.toUpperCase())]);
}

/**
 * A misspelt variable would otherwise be ignored without a word, and the daemon
 * would run on a default the administrator meant to change.
 */
function refuseUnknownVariables(env: Env): void {
  const known = knownVariableNames();
  for (const name of Object.keys(env)) {
    if (name.startsWith(ENV_PREFIX) && !known.has(name)) {
      throw new ConfigError(name, `unknown variable; docs/configuration.md lists the known ones`);
    }
  }
}

export const DEFAULTS = Object.freeze({
  runDir: '/run/saslauthd',
  pamDir: '/etc/pam.d',
  /** saslauthd makes its socket 0777 and relies on the directory; 0666 is the same for a socket. */
  socketMode: 0o666,
  readTimeoutMs: 5_000,
  answerTimeoutMs: 10_000,
  maxConnections: 512,
  shutdownGraceMs: 5_000,
  defaultScheme: 'crypt',
  /** Waiting expensive verifications (bcrypt, argon2, sha-crypt) at most; more are temporary failures. */
  verifyQueue: 256,
  verifiedCacheEntries: 10_000,
  /** saslauthd's default for -t: eight hours. */
  cacheTtlSeconds: 28_800,
  cacheEntries: 10_000,
  throttleAfter: 5,
  throttleMaxDelayMs: 5_000,
  throttleWindowSeconds: 900,
});

/** The options as the command line delivers them (strings, or true for bare flags). */
export interface DaemonFlags {
  readonly mech?: string;
  readonly runDir?: string;
  readonly realmJoin?: boolean;
  readonly debug?: boolean;
  readonly logSuccesses?: boolean;
  readonly workers?: string;
  readonly noAcceptLock?: boolean;
  readonly mechOption?: string;
  readonly passwdFile?: string;
  readonly defaultRealm?: string;
  readonly lowercase?: boolean;
  readonly defaultScheme?: string;
  readonly socketMode?: string;
  readonly socketGroup?: string;
  readonly readTimeout?: string;
  readonly answerTimeout?: string;
  readonly maxConnections?: string;
  readonly shutdownGrace?: string;
  readonly logLevel?: string;
  readonly pamDir?: string;
  readonly cache?: boolean;
  readonly cacheTtl?: string;
  readonly cacheSize?: string;
  readonly outageTtl?: string;
  readonly verifyCache?: string;
  readonly verifyThreads?: string;
  readonly verifyQueue?: string;
  readonly cryptEngine?: string;
  readonly throttleAfter?: string;
  readonly throttleMaxDelay?: string;
  readonly throttleWindow?: string;
  readonly metricsPort?: string;
  readonly metricsAddress?: string;
}

/** Where users come from, with everything the mechanism needs, validated at start-up. */
export type BackendConfig =
  | { readonly kind: 'passwd-file'; readonly file: string }
  /** saslauthd -a pam: the request's service names /etc/pam.d/<service>; its pam_mysql lines say the rest. */
  | { readonly kind: 'pam'; readonly pamDir: string; readonly tuning: ConnectionTuning }
  | { readonly kind: 'mysql'; readonly settings: MysqlBackendSettings };

export interface DaemonConfig {
  readonly mech: Mechanism;
  readonly runDir: string;
  readonly socketPath: string;
  readonly backend: BackendConfig;
  readonly realm: RealmPolicy;
  readonly defaultScheme: DefaultScheme;
  readonly caches: {
    /** Entries of the never-stale verified-password cache; 0 turns it off. */
    readonly verifiedEntries: number;
    /** saslauthd -c: skip the lookup for recent successes; undefined when off. */
    readonly credential?: { readonly ttlMs: number; readonly entries: number };
    /** Answer recent successes while the backend is unreachable; undefined when off (the default). */
    readonly outage?: { readonly ttlMs: number; readonly entries: number };
  };
  /** The worker pool for expensive hash schemes. */
  /**
   * The worker pool for expensive hash schemes, and who computes md5crypt, DES and sha-crypt:
   * libxcrypt through the native addon, JavaScript, or the addon when it is built (auto).
   */
  readonly verify: { readonly threads: number; readonly maxQueue: number; readonly engine: CryptEngine };
  readonly socket: { readonly mode: number; readonly gid?: number };
  readonly timeouts: ConnectionTimeouts;
  readonly maxConnections: number;
  /** Brute-force delays (src/auth/throttle.ts); afterFailures 0 turns them off. */
  readonly throttle: ThrottleSettings;
  /** Prometheus /metrics over HTTP; undefined when off (the default). */
  readonly metrics?: { readonly host: string; readonly port: number };
  readonly shutdownGraceMs: number;
  /** successes: log each success at info (-V), not only at debug. */
  readonly log: { readonly level: Level; readonly pretty: boolean; readonly successes: boolean };
  /** saslauthd flags we accept so existing command lines keep working, and what they were. */
  readonly compatibility: { readonly workers?: number; readonly noAcceptLock: boolean };
}

type Env = Readonly<Record<string, string | undefined>>;

/** A value with the name of the flag or variable it came from, for error messages. */
interface Sourced<T> {
  readonly key: string;
  readonly value: T;
}

function pick(flag: string, flagValue: string | undefined, envName: string, env: Env): Sourced<string> | undefined {
  if (flagValue !== undefined) return { key: flag, value: flagValue };
  const fromEnv = env[ENV_PREFIX + envName];
  if (fromEnv !== undefined && fromEnv !== '') return { key: ENV_PREFIX + envName, value: fromEnv };
  return undefined;
}

function pickBoolean(flag: string, flagValue: boolean | undefined, envName: string, env: Env): boolean {
  if (flagValue) return true;
  const fromEnv = pick(flag, undefined, envName, env);
  return fromEnv ? parseBoolean(fromEnv.key, fromEnv.value) : false;
}

function pickChoice<T extends string>(flag: string, flagValue: string | undefined, envName: string, env: Env, choices: readonly T[], fallback: T): T {
  const source = pick(flag, flagValue, envName, env);
  return source ? parseChoice(source.key, source.value, choices) : fallback;
}

function pickInteger(flag: string, flagValue: string | undefined, envName: string, env: Env, fallback: number, min: number, max: number): number {
  const found = pick(flag, flagValue, envName, env);
  return found ? parseInteger(found.key, found.value, min, max) : fallback;
}

export function resolveDaemonConfig(flags: DaemonFlags, env: Env = process.env, cwd: string = process.cwd()): DaemonConfig {
  refuseUnknownVariables(env);
  const mechSource = pick('-a', flags.mech, 'MECH', env);
  if (!mechSource) throw new ConfigError('-a', `no mechanism given; choose one of: ${MECHANISMS.join(', ')}`);
  const mech = parseChoice(mechSource.key, mechSource.value, MECHANISMS);

  const runDir = path.resolve(cwd, pick('-m', flags.runDir, 'RUN_DIR', env)?.value ?? DEFAULTS.runDir);

  let backend: BackendConfig;
  if (mech === 'passwd-file') {
    const passwdSource = pick('--passwd-file', flags.passwdFile ?? flags.mechOption, 'PASSWD_FILE', env);
    if (!passwdSource) throw new ConfigError('--passwd-file', 'required with -a passwd-file (or give the path with -O)');
    backend = { kind: 'passwd-file', file: path.resolve(cwd, passwdSource.value) };
  } else {
    // -O names the database config file: all of it for -a mysql, the tuning keys (TLS, timeouts, pool) for -a pam.
    const configFile = pick('-O', flags.mechOption, 'DB_CONFIG', env);
    const file = configFile ? path.resolve(cwd, configFile.value) : undefined;
    backend =
      mech === 'mysql'
        ? { kind: 'mysql', settings: loadNativeSettings(file, env) }
        : { kind: 'pam', pamDir: path.resolve(cwd, pick('--pam-dir', flags.pamDir, 'PAM_DIR', env)?.value ?? DEFAULTS.pamDir), tuning: loadTuning(file, env) };
  }

  const debug = pickBoolean('-d', flags.debug, 'DEBUG', env);
  const levelSource = pick('--log-level', flags.logLevel, 'LOG_LEVEL', env);
  const level = levelSource ? parseChoice(levelSource.key, levelSource.value, LOG_LEVELS) : debug ? 'debug' : 'info';

  const defaultRealm = pick('--default-realm', flags.defaultRealm, 'DEFAULT_REALM', env);
  if (defaultRealm && /[\u0000-\u001f\u007f@]/u.test(defaultRealm.value)) {
    throw new ConfigError(defaultRealm.key, 'must not contain "@" or control characters');
  }

  const schemeSource = pick('--default-scheme', flags.defaultScheme, 'DEFAULT_SCHEME', env);
  let defaultScheme: DefaultScheme = DEFAULTS.defaultScheme;
  if (schemeSource) {
    const parsed = parseDefaultScheme(schemeSource.value);
    if (!parsed) throw new ConfigError(schemeSource.key, `must be a pam_mysql crypt= number 0-9 or one of ${DEFAULT_SCHEMES.join(', ')}, got "${schemeSource.value}"`);
    defaultScheme = parsed;
  }

  const modeSource = pick('--socket-mode', flags.socketMode, 'SOCKET_MODE', env);
  const groupSource = pick('--socket-group', flags.socketGroup, 'SOCKET_GROUP', env);
  const workersSource = pick('-n', flags.workers, 'WORKERS', env);
  const readTimeoutMs = pickInteger('--read-timeout', flags.readTimeout, 'READ_TIMEOUT', env, DEFAULTS.readTimeoutMs, 50, 600_000);
  const answerTimeoutMs = pickInteger('--answer-timeout', flags.answerTimeout, 'ANSWER_TIMEOUT', env, DEFAULTS.answerTimeoutMs, 50, 600_000);
  const throttle = resolveThrottle(flags, env, answerTimeoutMs);

  const config: DaemonConfig = {
    mech,
    runDir,
    socketPath: path.join(runDir, SOCKET_NAME),
    backend,
    realm: {
      joinRealm: pickBoolean('-r', flags.realmJoin, 'REALM_JOIN', env),
      ...(defaultRealm ? { defaultRealm: defaultRealm.value } : {}),
      lowercase: pickBoolean('--lowercase', flags.lowercase, 'LOWERCASE', env),
    },
    defaultScheme,
    caches: {
      verifiedEntries: pickInteger('--verify-cache', flags.verifyCache, 'VERIFY_CACHE', env, DEFAULTS.verifiedCacheEntries, 0, 10_000_000),
      ...(pickBoolean('-c', flags.cache, 'CACHE', env)
        ? {
            credential: {
              ttlMs: pickInteger('-t', flags.cacheTtl, 'CACHE_TTL', env, DEFAULTS.cacheTtlSeconds, 1, 31_536_000) * 1000,
              entries: pickInteger('--cache-size', flags.cacheSize, 'CACHE_SIZE', env, DEFAULTS.cacheEntries, 1, 10_000_000),
            },
          }
        : {}),
      ...(pick('--outage-ttl', flags.outageTtl, 'OUTAGE_TTL', env)
        ? {
            outage: {
              ttlMs: pickInteger('--outage-ttl', flags.outageTtl, 'OUTAGE_TTL', env, 0, 1, 86_400) * 1000,
              entries: pickInteger('--cache-size', flags.cacheSize, 'CACHE_SIZE', env, DEFAULTS.cacheEntries, 1, 10_000_000),
            },
          }
        : {}),
    },
    verify: {
      threads: pickInteger('--verify-threads', flags.verifyThreads, 'VERIFY_THREADS', env, availableParallelism(), 1, 256),
      maxQueue: pickInteger('--verify-queue', flags.verifyQueue, 'VERIFY_QUEUE', env, DEFAULTS.verifyQueue, 1, 100_000),
      engine: pickChoice('--crypt-engine', flags.cryptEngine, 'CRYPT_ENGINE', env, CRYPT_ENGINES, 'auto'),
    },
    socket: {
      mode: modeSource ? parseFileMode(modeSource.key, modeSource.value) : DEFAULTS.socketMode,
      ...(groupSource ? { gid: resolveGroupId(groupSource.key, groupSource.value) } : {}),
    },
    timeouts: {
      readTimeoutMs,
      answerTimeoutMs,
      replyTimeoutMs: readTimeoutMs,
    },
    maxConnections: pickInteger('--max-connections', flags.maxConnections, 'MAX_CONNECTIONS', env, DEFAULTS.maxConnections, 1, 100_000),
    throttle,
    ...resolveMetrics(flags, env),
    shutdownGraceMs: pickInteger('--shutdown-grace', flags.shutdownGrace, 'SHUTDOWN_GRACE', env, DEFAULTS.shutdownGraceMs, 0, 600_000),
    log: { level, pretty: debug, successes: pickBoolean('-V', flags.logSuccesses, 'LOG_SUCCESSES', env) },
    compatibility: {
      ...(workersSource ? { workers: parseInteger(workersSource.key, workersSource.value, 0, 10_000) } : {}),
      noAcceptLock: Boolean(flags.noAcceptLock),
    },
  };
  return deepFreeze(config);
}

/**
 * A delayed answer must still arrive before the answer deadline, or the
 * throttle would turn a wrong password into a temporary failure.
 */
function resolveThrottle(flags: DaemonFlags, env: Env, answerTimeoutMs: number): ThrottleSettings {
  const afterFailures = pickInteger('--throttle-after', flags.throttleAfter, 'THROTTLE_AFTER', env, DEFAULTS.throttleAfter, 0, 1_000_000);
  const delaySource = pick('--throttle-max-delay', flags.throttleMaxDelay, 'THROTTLE_MAX_DELAY', env);
  const maxDelayMs = delaySource ? parseInteger(delaySource.key, delaySource.value, 0, 600_000) : Math.min(DEFAULTS.throttleMaxDelayMs, Math.floor(answerTimeoutMs / 2));
  if (afterFailures > 0 && maxDelayMs >= answerTimeoutMs) {
    throw new ConfigError(delaySource?.key ?? '--throttle-max-delay', `must be below the answer timeout (${answerTimeoutMs} ms), or delayed answers would become temporary failures`);
  }
  const windowSeconds = pickInteger('--throttle-window', flags.throttleWindow, 'THROTTLE_WINDOW', env, DEFAULTS.throttleWindowSeconds, 1, 604_800);
  return { afterFailures, maxDelayMs, windowMs: windowSeconds * 1000 };
}

function resolveMetrics(flags: DaemonFlags, env: Env): { metrics?: { host: string; port: number } } {
  const portSource = pick('--metrics-port', flags.metricsPort, 'METRICS_PORT', env);
  const addressSource = pick('--metrics-address', flags.metricsAddress, 'METRICS_ADDRESS', env);
  if (!portSource) {
    if (addressSource) throw new ConfigError(addressSource.key, 'has no effect without --metrics-port');
    return {};
  }
  const host = addressSource?.value ?? '127.0.0.1';
  if (isIP(host) === 0) throw new ConfigError(addressSource!.key, `expected an IP address, got "${host}"`);
  return { metrics: { host, port: parseInteger(portSource.key, portSource.value, 0, 65_535) } };
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === 'object') deepFreeze(child as object);
  }
  return Object.freeze(value);
}
