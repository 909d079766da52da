/**
 * The daemon's configuration, resolved once at start-up: a command-line flag
 * wins, then an environment variable (SASLAUTHD_MYSQL_*), then the default.
 * The result is validated and frozen; a bad value stops start-up with a
 * message naming the flag or variable it came from.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import type { Level } from 'pino';
import { ConfigError, NOT_REPEATED } from '../errors.js';
import type { RealmPolicy } from '../realm/login-key.js';
import { DEFAULT_SCHEMES, parseDefaultScheme, type DefaultScheme } from '../crypt/default-scheme.js';
import { DEFAULT_COST_CEILINGS, type CostCeilings } from '../crypt/schemes/crypt-strings.js';
import { availableParallelism } from 'node:os';
import type { ConnectionTimeouts } from '../protocol/connection.js';
import { LOG_LEVELS } from '../log/logger.js';
import { parseBoolean, parseChoice, parseFileMode, parseInteger } from './parse.js';
import { resolveGroupId } from './group.js';
import { ENV_NAMES, ENV_PREFIX, optionSource, type DaemonFlags, type OptionName } from './options.js';
import { DB_ENV_PREFIX, KEYS as DB_KEYS, loadNativeSettings, loadTuning, PRESET_ENV } from '../backends/mysql/native-config.js';
import type { BackendConfig } from '../backends/index.js';
import type { ThrottleSettings } from '../auth/throttle.js';
import { exposedSecretWarning } from '../common/exposed-file.js';

export const MECHANISMS = ['passwd-file', 'pam', 'mysql'] as const;
export const CRYPT_ENGINES = ['auto', 'native', 'js'] as const;
export type CryptEngine = (typeof CRYPT_ENGINES)[number];
export type Mechanism = (typeof MECHANISMS)[number];

export const SOCKET_NAME = 'mux';

export { ENV_NAMES, ENV_PREFIX, type DaemonFlags } from './options.js';
export type { BackendConfig } from '../backends/index.js';

/** Every variable name the daemon reads, the database ones included. */
export function knownVariableNames(): ReadonlySet<string> {
  return new Set([...ENV_NAMES.map((name) => ENV_PREFIX + name), `${DB_ENV_PREFIX}URL`, PRESET_ENV, ...DB_KEYS.map((key) => DB_ENV_PREFIX + key.toUpperCase())]);
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
  throttleStoreTimeoutMs: 100,
});

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
  /** The most work one stored value may ask for; above it a value is refused, never computed. */
  readonly ceilings: CostCeilings;
  readonly socket: { readonly mode: number; readonly gid?: number };
  readonly timeouts: ConnectionTimeouts;
  readonly maxConnections: number;
  /** Dovecot's auth protocol, beside the mux socket, when asked for. */
  readonly dovecot?: { readonly socketPath?: string; readonly listen?: { readonly host: string; readonly port: number }; readonly plaintextNeedsTls: boolean };
  /** Brute-force delays (src/auth/throttle.ts); afterFailures 0 turns them off. */
  readonly throttle: ThrottleSettings;
  /** Where the throttle's counts are shared with other hosts, when they are (src/auth/redis-throttle-store.ts). */
  readonly throttleStore?: ThrottleStoreConfig;
  /** Prometheus /metrics over HTTP; undefined when off (the default). */
  readonly metrics?: { readonly host: string; readonly port: number };
  readonly shutdownGraceMs: number;
  /** successes: log each success at info (-V), not only at debug. */
  readonly log: { readonly level: Level; readonly pretty: boolean; readonly successes: boolean };
  /** saslauthd flags we accept so existing command lines keep working, and what they were. */
  /** saslauthd flags with no effect here, kept so the start-up can say so. */
  readonly compatibility: { readonly workers?: number; readonly noAcceptLock: boolean; readonly rimapHost: boolean; readonly timeOfDay: boolean };
}

type Env = Readonly<Record<string, string | undefined>>;

/** A value with the name of the flag or variable it came from, for error messages. */
interface Sourced<T> {
  readonly key: string;
  readonly value: T;
}

function pick(name: OptionName, flags: DaemonFlags, env: Env): Sourced<string> | undefined {
  const { label, variable } = optionSource(name);
  const flagValue = flags[name];
  if (typeof flagValue === 'string') return { key: label, value: flagValue };
  const fromEnv = variable === undefined ? undefined : env[variable];
  if (fromEnv !== undefined && fromEnv !== '') return { key: variable!, value: fromEnv };
  return undefined;
}

function pickBoolean(name: OptionName, flags: DaemonFlags, env: Env): boolean {
  if (flags[name] === true) return true;
  const fromEnv = pick(name, {}, env);
  return fromEnv ? parseBoolean(fromEnv.key, fromEnv.value) : false;
}

function pickChoice<T extends string>(name: OptionName, flags: DaemonFlags, env: Env, choices: readonly T[], fallback: T): T {
  const source = pick(name, flags, env);
  return source ? parseChoice(source.key, source.value, choices) : fallback;
}

function pickInteger(name: OptionName, flags: DaemonFlags, env: Env, fallback: number, min: number, max: number): number {
  const found = pick(name, flags, env);
  return found ? parseInteger(found.key, found.value, min, max) : fallback;
}

export function resolveDaemonConfig(flags: DaemonFlags, env: Env = process.env, cwd: string = process.cwd()): DaemonConfig {
  refuseUnknownVariables(env);
  const mechSource = pick('mech', flags, env);
  if (!mechSource) throw new ConfigError('-a', `no mechanism given; choose one of: ${MECHANISMS.join(', ')}`);
  const mech = parseChoice(mechSource.key, mechSource.value, MECHANISMS);

  const runDir = path.resolve(cwd, pick('runDir', flags, env)?.value ?? DEFAULTS.runDir);

  // Checked whatever the mechanism, like every other option.
  const ignoreModules = parseModuleList(pick('pamIgnoreModules', flags, env));
  let backend: BackendConfig;
  if (mech === 'passwd-file') {
    const passwdFile = flags.passwdFile ?? flags.mechOption;
    const passwdSource = pick('passwdFile', passwdFile === undefined ? {} : { passwdFile }, env);
    if (!passwdSource) throw new ConfigError('--passwd-file', 'required with -a passwd-file (or give the path with -O)');
    backend = { kind: 'passwd-file', file: path.resolve(cwd, passwdSource.value) };
  } else {
    // -O names the database config file: all of it for -a mysql, the tuning keys (TLS, timeouts, pool) for -a pam.
    const configFile = pick('mechOption', flags, env);
    const file = configFile ? path.resolve(cwd, configFile.value) : undefined;
    backend =
      mech === 'mysql'
        ? { kind: 'mysql', settings: loadNativeSettings(file, env) }
        : { kind: 'pam', pamDir: path.resolve(cwd, pick('pamDir', flags, env)?.value ?? DEFAULTS.pamDir), tuning: loadTuning(file, env), ignoreModules };
  }

  const debug = pickBoolean('debug', flags, env);
  const levelSource = pick('logLevel', flags, env);
  const level = levelSource ? parseChoice(levelSource.key, levelSource.value, LOG_LEVELS) : debug ? 'debug' : 'info';

  const defaultRealm = pick('defaultRealm', flags, env);
  if (defaultRealm && /[\u0000-\u001f\u007f@]/u.test(defaultRealm.value)) {
    throw new ConfigError(defaultRealm.key, 'must not contain "@" or control characters');
  }

  const schemeSource = pick('defaultScheme', flags, env);
  let defaultScheme: DefaultScheme = DEFAULTS.defaultScheme;
  if (schemeSource) {
    const parsed = parseDefaultScheme(schemeSource.value);
    if (!parsed) throw new ConfigError(schemeSource.key, `must be a pam_mysql crypt= number 0-9 or one of ${DEFAULT_SCHEMES.join(', ')} (${NOT_REPEATED})`);
    defaultScheme = parsed;
  }

  const modeSource = pick('socketMode', flags, env);
  const groupSource = pick('socketGroup', flags, env);
  const workersSource = pick('workers', flags, env);
  const readTimeoutMs = pickInteger('readTimeout', flags, env, DEFAULTS.readTimeoutMs, 50, 600_000);
  const answerTimeoutMs = pickInteger('answerTimeout', flags, env, DEFAULTS.answerTimeoutMs, 50, 600_000);
  const throttle = resolveThrottle(flags, env, answerTimeoutMs);
  // Checked whether or not the cache they tune is on: a bad value is a mistake today, and would be one the day it is turned on.
  const cacheTtlMs = pickInteger('cacheTtl', flags, env, DEFAULTS.cacheTtlSeconds, 1, 31_536_000) * 1000;
  const cacheEntries = resolveCacheEntries(flags, env);
  const outageTtlMs = pickInteger('outageTtl', flags, env, 0, 1, 86_400) * 1000;

  const config: DaemonConfig = {
    mech,
    runDir,
    socketPath: path.join(runDir, SOCKET_NAME),
    backend,
    realm: {
      joinRealm: pickBoolean('realmJoin', flags, env),
      ...(defaultRealm ? { defaultRealm: defaultRealm.value } : {}),
      lowercase: pickBoolean('lowercase', flags, env),
    },
    defaultScheme,
    caches: {
      verifiedEntries: pickInteger('verifyCache', flags, env, DEFAULTS.verifiedCacheEntries, 0, 10_000_000),
      ...(pickBoolean('cache', flags, env) ? { credential: { ttlMs: cacheTtlMs, entries: cacheEntries } } : {}),
      ...(outageTtlMs > 0 ? { outage: { ttlMs: outageTtlMs, entries: cacheEntries } } : {}),
    },
    verify: {
      threads: pickInteger('verifyThreads', flags, env, availableParallelism(), 1, 256),
      maxQueue: pickInteger('verifyQueue', flags, env, DEFAULTS.verifyQueue, 1, 100_000),
      engine: pickChoice('cryptEngine', flags, env, CRYPT_ENGINES, 'auto'),
    },
    ceilings: {
      bcryptCost: pickInteger('maxBcryptCost', flags, env, DEFAULT_COST_CEILINGS.bcryptCost, 4, 31),
      shaCryptRounds: pickInteger('maxShaCryptRounds', flags, env, DEFAULT_COST_CEILINGS.shaCryptRounds, 1000, 999_999_999),
      argon2MemoryKiB: pickInteger('maxArgon2Memory', flags, env, DEFAULT_COST_CEILINGS.argon2MemoryKiB, 8, 4_194_304),
      argon2Passes: pickInteger('maxArgon2Passes', flags, env, DEFAULT_COST_CEILINGS.argon2Passes, 1, 1000),
      phpassLog2: pickInteger('maxPhpassRounds', flags, env, DEFAULT_COST_CEILINGS.phpassLog2, 7, 30),
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
    maxConnections: pickInteger('maxConnections', flags, env, DEFAULTS.maxConnections, 1, 100_000),
    ...resolveDovecot(flags, env, cwd),
    throttle,
    ...resolveThrottleStore(flags, env, cwd, throttle),
    ...resolveMetrics(flags, env),
    shutdownGraceMs: pickInteger('shutdownGrace', flags, env, DEFAULTS.shutdownGraceMs, 0, 600_000),
    log: { level, pretty: debug, successes: pickBoolean('logSuccesses', flags, env) },
    compatibility: {
      ...(workersSource ? { workers: parseInteger(workersSource.key, workersSource.value, 0, 10_000) } : {}),
      noAcceptLock: Boolean(flags.noAcceptLock),
      rimapHost: flags.rimapHost !== undefined,
      timeOfDay: Boolean(flags.timeOfDay),
    },
  };
  return deepFreeze(config);
}

/**
 * A delayed answer must still arrive before the answer deadline, or the
 * throttle would turn a wrong password into a temporary failure.
 */
function resolveThrottle(flags: DaemonFlags, env: Env, answerTimeoutMs: number): ThrottleSettings {
  const afterFailures = pickInteger('throttleAfter', flags, env, DEFAULTS.throttleAfter, 0, 1_000_000);
  const delaySource = pick('throttleMaxDelay', flags, env);
  const maxDelayMs = delaySource ? parseInteger(delaySource.key, delaySource.value, 0, 600_000) : Math.min(DEFAULTS.throttleMaxDelayMs, Math.floor(answerTimeoutMs / 2));
  if (afterFailures > 0 && maxDelayMs >= answerTimeoutMs) {
    throw new ConfigError(delaySource?.key ?? '--throttle-max-delay', `must be below the answer timeout (${answerTimeoutMs} ms), or delayed answers would become temporary failures`);
  }
  const windowSeconds = pickInteger('throttleWindow', flags, env, DEFAULTS.throttleWindowSeconds, 1, 604_800);
  return { afterFailures, maxDelayMs, windowMs: windowSeconds * 1000 };
}

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
function resolveThrottleStore(flags: DaemonFlags, env: Env, cwd: string, throttle: ThrottleSettings): Pick<DaemonConfig, 'throttleStore'> {
  const store = pick('throttleStore', flags, env);
  const keyFile = pick('throttleStoreKeyFile', flags, env);
  const timeout = pick('throttleStoreTimeout', flags, env);
  const deadlineMs = timeout ? parseInteger(timeout.key, timeout.value, 5, 10_000) : DEFAULTS.throttleStoreTimeoutMs;
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
  if (throttle.afterFailures <= 0) throw new ConfigError(store.key, 'shares the throttle\'s counts, but --throttle-after 0 turns the throttle off: remove one of them');
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
    const exposed = exposedSecretWarning(file, 'the throttle store\'s digest key');
    if (exposed) warnings.push(exposed);
  } else {
    warnings.push('the throttle store holds plain SHA-256 digests of user names and client addresses, which anyone who can read Redis can test guesses against: give every host the same --throttle-store-key-file');
  }
  return { throttleStore: { url: store.value.trim(), deadlineMs, ...(digestKey !== undefined ? { digestKey } : {}), warnings } };
}

/** --dovecot-socket and --dovecot-listen: where to serve Dovecot's auth protocol, if anywhere. */
function resolveDovecot(flags: DaemonFlags, env: Env, cwd: string): Pick<DaemonConfig, 'dovecot'> {
  const socket = pick('dovecotSocket', flags, env);
  const listen = pick('dovecotListen', flags, env);
  // Checked even when no Dovecot listener is asked for, like every option.
  const plaintextNeedsTls = pickBoolean('dovecotPlaintextNeedsTls', flags, env);
  if (!socket && !listen) return {};
  let address: { host: string; port: number } | undefined;
  if (listen) {
    // A bare port is on loopback: the protocol has no authentication of its own.
    const value = /^\d+$/.test(listen.value.trim()) ? `127.0.0.1:${listen.value.trim()}` : listen.value.trim();
    const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s]+)):(\d+)$/.exec(value);
    const host = match?.[1] ?? match?.[2];
    if (!match || host === undefined || isIP(host) === 0) throw new ConfigError(listen.key, `expected a port (on 127.0.0.1), or an IP address and a port, such as 127.0.0.1:12345 or [::1]:12345 (${NOT_REPEATED})`);
    address = { host, port: parseInteger(listen.key, match[3]!, 0, 65_535) };
  }
  return { dovecot: { ...(socket ? { socketPath: path.resolve(cwd, socket.value) } : {}), ...(address ? { listen: address } : {}), plaintextNeedsTls } };
}

/** saslauthd's table bytes per cached login (its struct bucket: 60 bytes of names, three offsets, an MD5 digest, a timestamp). */
const SASLAUTHD_BUCKET_BYTES = 96;

/** --cache-size in entries, or saslauthd's -s in kilobytes of its table; not both. */
function resolveCacheEntries(flags: DaemonFlags, env: Env): number {
  const entries = pick('cacheSize', flags, env);
  const kilobytes = pick('cacheTableSize', flags, env);
  if (entries && kilobytes) throw new ConfigError(kilobytes.key, `and ${entries.key} both size the -c cache: give one`);
  if (kilobytes) return Math.ceil((parseInteger(kilobytes.key, kilobytes.value, 1, 1_000_000) * 1024) / SASLAUTHD_BUCKET_BYTES);
  return entries ? parseInteger(entries.key, entries.value, 1, 10_000_000) : DEFAULTS.cacheEntries;
}

function resolveMetrics(flags: DaemonFlags, env: Env): { metrics?: { host: string; port: number } } {
  const portSource = pick('metricsPort', flags, env);
  const addressSource = pick('metricsAddress', flags, env);
  if (!portSource) {
    if (addressSource) throw new ConfigError(addressSource.key, 'has no effect without --metrics-port');
    return {};
  }
  const host = addressSource?.value ?? '127.0.0.1';
  if (isIP(host) === 0) throw new ConfigError(addressSource!.key, `expected an IP address (${NOT_REPEATED})`);
  return { metrics: { host, port: parseInteger(portSource.key, portSource.value, 0, 65_535) } };
}

/** --pam-ignore-modules: module file names, comma-separated. */
function parseModuleList(source: Sourced<string> | undefined): string[] {
  if (!source) return [];
  const modules = source.value.split(',').map((name) => name.trim()).filter((name) => name !== '');
  const odd = modules.find((name) => !/^[A-Za-z0-9_.-]+\.so$/.test(name));
  if (odd !== undefined) throw new ConfigError(source.key, `expected module file names such as pam_listfile.so, separated by commas (${NOT_REPEATED})`);
  return modules;
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === 'object') deepFreeze(child as object);
  }
  return Object.freeze(value);
}
