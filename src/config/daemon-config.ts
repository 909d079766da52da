/**
 * The daemon's configuration, resolved once at start-up (and again at each
 * reload): a command-line flag wins, then an environment variable
 * (SASLAUTHD_MYSQL_*), then saslauthd's own settings file when it is taken
 * over, then the default the option's row gives (options.ts), where its range
 * and kind are too (config/option-reader.ts reads them). The result is validated and
 * frozen; a bad value stops start-up with a message naming the flag or
 * variable it came from.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import type { Level } from 'pino';
import { ConfigError, NOT_REPEATED } from '../errors.js';
import type { RealmPolicy } from '../realm/login-key.js';
import { DEFAULT_SCHEMES, parseDefaultScheme, type DefaultScheme } from '../crypt/default-scheme.js';
import type { CostCeilings } from '../crypt/schemes/crypt-strings.js';
import { availableParallelism } from 'node:os';
import type { ConnectionTimeouts } from '../protocol/connection.js';
import type { DovecotTimeouts } from '../protocol/dovecot-connection.js';
import { OptionReader, type Sourced } from './option-reader.js';
import { readSaslauthdSysconfig, type SaslauthdSysconfig } from './saslauthd-sysconfig.js';
import { resolveThrottleStore, type ThrottleStoreConfig } from './throttle-store-config.js';
import { resolveOauth, type OauthConfig } from './oauth-config.js';
import { parseListenAddress, resolveDovecotPolicy, type DovecotPolicyConfig } from './dovecot-policy-config.js';
import { resolveCompromise } from './compromise-config.js';
import type { CompromiseSettings } from '../auth/compromise-watch.js';
import { resolveGroupId } from './group.js';
import { parseNetworkEntry } from '../common/networks.js';
import { CRYPT_ENGINES, daemonOption, ENV_NAMES, ENV_PREFIX, everyOption, MECHANISMS, type CryptEngine, type DaemonFlags, type Mechanism, type OptionName } from './options.js';
import { LOG_LEVELS } from '../log/logger.js';
import { DB_ENV_PREFIX, KEYS as DB_KEYS, loadNativeSettings, loadTuning, PRESET_ENV } from '../backends/mysql/native-config.js';
import type { BackendConfig } from '../backends/index.js';
import type { ThrottleSettings } from '../auth/throttle.js';
import { docPath } from '../common/doc-path.js';
import { closestName } from './closest-name.js';

export { MECHANISMS, type CryptEngine, type Mechanism } from './options.js';

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
      const near = closestName(name, known);
      throw new ConfigError(name, `unknown variable${near ? `; did you mean ${near}?` : ''} (${docPath('configuration.md')} lists the known ones)`);
    }
  }
}


export interface DaemonConfig {
  readonly mech: Mechanism;
  readonly runDir: string;
  readonly socketPath: string;
  /** The unit's EnvironmentFile=, read again at every reload (config/environment-file.ts). */
  readonly environmentFile?: string;
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
  /**
   * The worker pool for expensive hash schemes, and who computes md5crypt, DES and sha-crypt:
   * libxcrypt through the native addon, JavaScript, or the addon when it is built (auto).
   */
  readonly verify: { readonly threads: number; readonly maxQueue: number; readonly engine: CryptEngine };
  /** The most work one stored value may ask for; above it a value is refused, never computed. */
  readonly ceilings: CostCeilings;
  readonly socket: { readonly mode: number; readonly gid?: number };
  /** The mux socket's deadlines. */
  readonly timeouts: ConnectionTimeouts;
  /** The Dovecot protocol's, made from the same settings. */
  readonly dovecotTimeouts: DovecotTimeouts;
  readonly maxConnections: number;
  /** Connections one peer may hold on each listener (protocol/peer.ts). */
  readonly maxConnectionsPerPeer: number;
  /** Dovecot's auth protocol, beside the mux socket, when asked for. */
  readonly dovecot?: {
    readonly socketPath?: string;
    readonly listen?: { readonly host: string; readonly port: number };
    readonly plaintextNeedsTls: boolean;
    /** TCP peers believed about their clients' addresses (common/networks.ts). */
    readonly trustedPeers: readonly string[];
  };
  /** Dovecot's auth policy (src/protocol/policy-server.ts), for a Dovecot that checks passwords itself, when asked for. */
  readonly dovecotPolicy?: DovecotPolicyConfig;
  /** The compromised-account signal (src/auth/compromise-watch.ts), unless turned off. */
  readonly compromise?: CompromiseSettings;
  /** Brute-force delays (src/auth/throttle.ts); afterFailures 0 turns them off. */
  readonly throttle: ThrottleSettings;
  /** Where the throttle's counts are shared with other hosts, when they are (src/auth/redis-throttle-store.ts). */
  readonly throttleStore?: ThrottleStoreConfig;
  /** The identity provider whose access tokens OAUTHBEARER and XOAUTH2 accept, when configured (src/oauth/). */
  readonly oauth?: OauthConfig;
  /** Prometheus /metrics over HTTP; undefined when off (the default). */
  readonly metrics?: { readonly host: string; readonly port: number };
  readonly shutdownGraceMs: number;
  /** successes: log each success at info (-V), not only at debug. */
  readonly log: { readonly level: Level; readonly pretty: boolean; readonly successes: boolean };
  /** saslauthd flags with no effect here, kept so the start-up can say so. */
  readonly compatibility: { readonly workers?: number; readonly noAcceptLock: boolean; readonly rimapHost: boolean; readonly timeOfDay: boolean };
  /** saslauthd's settings file taken over (--saslauthd-sysconfig), with where each setting came from. */
  readonly saslauthdSysconfig?: SaslauthdSysconfig;
  /**
   * What each option resolved to, by its name in the option table, for
   * reload's "restart needed"; a key file's digest stands for its contents.
   */
  readonly settings: Readonly<Partial<Record<OptionName, unknown>>>;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The options a reload cannot apply (their row says 'restart') whose value
 * changed, by their long flag: the reload keeps running on the old ones and
 * says so.
 */
export function settingsNeedingRestart(running: DaemonConfig, next: DaemonConfig): string[] {
  return everyOption()
    .filter((option) => option.applies === 'restart' && JSON.stringify(running.settings[option.name]) !== JSON.stringify(next.settings[option.name]))
    .map((option) => option.longFlag);
}

export function resolveDaemonConfig(flags: DaemonFlags, env: Env = process.env, cwd: string = process.cwd()): DaemonConfig {
  refuseUnknownVariables(env);
  const sysconfig = takenOverSysconfig(flags, env, cwd);
  const read = new OptionReader(flags, env, sysconfig);
  read.text('saslauthdSysconfig');
  const mechSource = read.text('mech');
  if (!mechSource) throw new ConfigError('-a', `no mechanism given; choose one of: ${MECHANISMS.join(', ')}${sysconfig ? ` (${sysconfig.file} sets no MECH)` : ''}`);
  const mech = read.choice('mech', MECHANISMS)!;

  const runDir = path.resolve(cwd, read.textOrDefault('runDir'));

  // Checked whatever the mechanism, like every other option.
  const ignoreModules = parseModuleList(read.text('pamIgnoreModules'));
  let backend: BackendConfig;
  if (mech === 'passwd-file') {
    // --passwd-file, else -O (the mechanism's option is its file), else the variable; -O's
    // variable names the database config, never a passwd-file.
    const named = read.text('passwdFile');
    const optionLayer = read.layer('mechOption');
    const optionWins = (optionLayer === 'flag' && read.layer('passwdFile') !== 'flag') || (optionLayer === 'sysconfig' && named === undefined);
    const passwdSource = optionWins ? read.text('mechOption') : named;
    if (!passwdSource) throw new ConfigError('--passwd-file', 'required with -a passwd-file (or give the path with -O)');
    backend = { kind: 'passwd-file', file: path.resolve(cwd, passwdSource.value) };
  } else {
    // -O names the database config file: all of it for -a mysql, the tuning keys (TLS, timeouts, pool) for -a pam.
    const configFile = read.text('mechOption');
    const file = configFile ? path.resolve(cwd, configFile.value) : undefined;
    backend =
      mech === 'mysql'
        ? { kind: 'mysql', settings: loadNativeSettings(file, env) }
        : { kind: 'pam', pamDir: path.resolve(cwd, read.textOrDefault('pamDir')), tuning: loadTuning(file, env), ignoreModules };
  }

  const debug = read.switch('debug');
  const level: Level = read.choice('logLevel', LOG_LEVELS, debug ? 'debug' : 'info')!;

  const defaultRealm = read.text('defaultRealm');
  if (defaultRealm && /[\u0000-\u001f\u007f@]/u.test(defaultRealm.value)) {
    throw new ConfigError(defaultRealm.key, 'must not contain "@" or control characters');
  }

  const schemeSource = read.text('defaultScheme');
  let defaultScheme = parseDefaultScheme(String(daemonOption('defaultScheme').default))!;
  if (schemeSource) {
    const parsed = parseDefaultScheme(schemeSource.value);
    if (!parsed) throw new ConfigError(schemeSource.key, `must be a pam_mysql crypt= number 0-9 or one of ${DEFAULT_SCHEMES.join(', ')} (${NOT_REPEATED})`);
    defaultScheme = parsed;
  }

  const groupSource = read.text('socketGroup');
  const readTimeoutMs = read.number('readTimeout');
  const answerTimeoutMs = read.number('answerTimeout');
  const throttle = resolveThrottle(read, answerTimeoutMs);
  // Checked whether or not the cache they tune is on: a bad value is a mistake today, and would be one the day it is turned on.
  const cacheTtlMs = read.number('cacheTtl') * 1000;
  const cacheEntries = resolveCacheEntries(read);
  const outageTtlMs = (read.integer('outageTtl') ?? 0) * 1000;
  const workers = read.integer('workers');
  const maxConnections = read.number('maxConnections');
  const environmentFile = read.text('environmentFile');

  const dovecot = resolveDovecot(read, cwd);
  const config: DaemonConfig = {
    mech,
    runDir,
    socketPath: path.join(runDir, SOCKET_NAME),
    ...(environmentFile ? { environmentFile: path.resolve(cwd, environmentFile.value) } : {}),
    backend,
    realm: {
      joinRealm: read.switch('realmJoin'),
      ...(defaultRealm ? { defaultRealm: defaultRealm.value } : {}),
      lowercase: read.switch('lowercase'),
    },
    defaultScheme,
    caches: {
      verifiedEntries: read.number('verifyCache'),
      ...(read.switch('cache') ? { credential: { ttlMs: cacheTtlMs, entries: cacheEntries } } : {}),
      ...(outageTtlMs > 0 ? { outage: { ttlMs: outageTtlMs, entries: cacheEntries } } : {}),
    },
    verify: {
      threads: read.number('verifyThreads', availableParallelism()),
      maxQueue: read.number('verifyQueue'),
      engine: read.choice('cryptEngine', CRYPT_ENGINES)!,
    },
    ceilings: {
      bcryptCost: read.number('maxBcryptCost'),
      shaCryptRounds: read.number('maxShaCryptRounds'),
      argon2MemoryKiB: read.number('maxArgon2Memory'),
      argon2Passes: read.number('maxArgon2Passes'),
      phpassLog2: read.number('maxPhpassRounds'),
    },
    socket: {
      mode: read.mode('socketMode'),
      ...(groupSource ? { gid: resolveGroupId(groupSource.key, groupSource.value) } : {}),
    },
    // A reply is taken by the peer within the time its request may take to arrive; the Dovecot protocol's handshake, lines and CONT responses too.
    timeouts: { readTimeoutMs, answerTimeoutMs, replyTimeoutMs: readTimeoutMs },
    dovecotTimeouts: { handshakeTimeoutMs: readTimeoutMs, answerTimeoutMs, responseTimeoutMs: readTimeoutMs },
    maxConnections,
    maxConnectionsPerPeer: read.number('maxConnectionsPerPeer', Math.max(1, Math.floor(maxConnections / 2))),
    ...dovecot,
    ...resolveOauth(read, cwd, dovecot.dovecot !== undefined),
    throttle,
    ...resolveThrottleStore(read, cwd, throttle),
    ...resolveDovecotPolicy(read, cwd, throttle),
    ...resolveCompromise(read),
    ...resolveMetrics(read),
    shutdownGraceMs: read.number('shutdownGrace'),
    log: { level, pretty: debug, successes: read.switch('logSuccesses') },
    compatibility: {
      ...(workers === undefined ? {} : { workers }),
      noAcceptLock: read.switch('noAcceptLock'),
      rimapHost: read.text('rimapHost') !== undefined,
      timeOfDay: read.switch('timeOfDay'),
    },
    ...(sysconfig ? { saslauthdSysconfig: sysconfig } : {}),
    settings: read.settings,
  };
  refuseRehashOverCeilings(config.backend, config.ceilings);
  return deepFreeze(config);
}

/** --saslauthd-sysconfig, read before the rest: its settings sit under the flags and variables. */
function takenOverSysconfig(flags: DaemonFlags, env: Env, cwd: string): SaslauthdSysconfig | undefined {
  const named = new OptionReader(flags, env).text('saslauthdSysconfig');
  return named ? readSaslauthdSysconfig(named.key, path.resolve(cwd, named.value)) : undefined;
}

/**
 * A re-hash target a later login would refuse to check (its cost above a
 * ceiling) would turn every re-hashed mailbox's next login into a temporary
 * failure: refused at start, naming both settings.
 */
function refuseRehashOverCeilings(backend: BackendConfig, ceilings: CostCeilings): void {
  const rehash = backend.kind === 'mysql' ? backend.settings.rehash : undefined;
  if (rehash?.cost === undefined) return;
  const over =
    rehash.to === 'BLF-CRYPT' && rehash.cost > ceilings.bcryptCost
      ? `bcrypt cost ${rehash.cost} is above --max-bcrypt-cost (${ceilings.bcryptCost})`
      : (rehash.to === 'SHA512-CRYPT' || rehash.to === 'SHA256-CRYPT') && rehash.cost > ceilings.shaCryptRounds
        ? `${rehash.cost} rounds is above --max-sha-crypt-rounds (${ceilings.shaCryptRounds})`
        : undefined;
  if (over) throw new ConfigError('rehash_cost', `${rehash.to} at ${over}: every mailbox re-hashed to it would fail its next login; lower rehash_cost, or raise the ceiling`);
}

/**
 * A delayed answer must still arrive before the answer deadline, or the
 * throttle would turn a wrong password into a temporary failure.
 */
function resolveThrottle(read: OptionReader, answerTimeoutMs: number): ThrottleSettings {
  const afterFailures = read.number('throttleAfter');
  const delaySource = read.text('throttleMaxDelay');
  const maxDelayMs = read.number('throttleMaxDelay', Math.min(5_000, Math.floor(answerTimeoutMs / 2)));
  if (afterFailures > 0 && maxDelayMs >= answerTimeoutMs) {
    throw new ConfigError(delaySource?.key ?? '--throttle-max-delay', `must be below the answer timeout (${answerTimeoutMs} ms), or delayed answers would become temporary failures`);
  }
  return { afterFailures, maxDelayMs, windowMs: read.number('throttleWindow') * 1000, ipv6PrefixBits: read.number('throttleIpv6Prefix') };
}

/** --dovecot-socket and --dovecot-listen: where to serve Dovecot's auth protocol, if anywhere. */
function resolveDovecot(read: OptionReader, cwd: string): Pick<DaemonConfig, 'dovecot'> {
  const socket = read.text('dovecotSocket');
  const listen = read.text('dovecotListen');
  // Checked even when no Dovecot listener is asked for, like every option.
  const plaintextNeedsTls = read.switch('dovecotPlaintextNeedsTls');
  const trusted = read.text('dovecotTrustedPeers');
  const trustedPeers = trusted ? trusted.value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '') : [];
  if (trusted && trustedPeers.some((entry) => parseNetworkEntry(entry) === undefined)) throw new ConfigError(trusted.key, `expected IP addresses or networks, comma-separated, such as 192.0.2.10, 2001:db8::/32 (${NOT_REPEATED})`);
  if (!socket && !listen) {
    if (trusted) throw new ConfigError(trusted.key, 'only means something with --dovecot-listen');
    return {};
  }
  const address = listen ? parseListenAddress(listen) : undefined;
  return { dovecot: { ...(socket ? { socketPath: path.resolve(cwd, socket.value) } : {}), ...(address ? { listen: address } : {}), plaintextNeedsTls, trustedPeers } };
}

/** saslauthd's table bytes per cached login (its struct bucket: 60 bytes of names, three offsets, an MD5 digest, a timestamp). */
const SASLAUTHD_BUCKET_BYTES = 96;

/** --cache-size in entries, or saslauthd's -s in kilobytes of its table; not both. */
function resolveCacheEntries(read: OptionReader): number {
  const entries = read.text('cacheSize');
  const kilobytes = read.text('cacheTableSize');
  if (entries && kilobytes) throw new ConfigError(kilobytes.key, `and ${entries.key} both size the -c cache: give one`);
  if (kilobytes) return Math.ceil((read.number('cacheTableSize') * 1024) / SASLAUTHD_BUCKET_BYTES);
  return read.number('cacheSize');
}

function resolveMetrics(read: OptionReader): { metrics?: { host: string; port: number } } {
  const port = read.integer('metricsPort');
  const addressSource = read.text('metricsAddress');
  if (port === undefined) {
    if (addressSource) throw new ConfigError(addressSource.key, 'has no effect without --metrics-port');
    return {};
  }
  const host = read.textOrDefault('metricsAddress');
  if (isIP(host) === 0) throw new ConfigError(addressSource!.key, `expected an IP address (${NOT_REPEATED})`);
  return { metrics: { host, port } };
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
