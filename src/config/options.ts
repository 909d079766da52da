/**
 * Every daemon option, once: its flags, its environment variable, its help
 * text, the kind of value it takes (with the range of a number), its default,
 * whether a reload (SIGHUP) applies a new value or only a restart does, and
 * whether its value holds a secret. The command line and its help text
 * (cli/program.ts), the environment names, the type of what the command line
 * delivers (DaemonFlags), the configuration's defaults and ranges
 * (daemon-config.ts), "restart needed" after a reload, the masking in
 * `saslauthd-mysql config` and the documentation check (test/unit/docs.test.ts)
 * are all made from this table, so an option cannot be added to one and
 * forgotten in another. What a value means for the daemon is daemon-config.ts's.
 */
import { DEFAULT_COST_CEILINGS } from '../crypt/schemes/crypt-strings.js';
import { LOG_LEVELS } from '../log/logger.js';

export const ENV_PREFIX = 'SASLAUTHD_MYSQL_';

/**
 *   switch    given or not (a variable takes the usual yes and no words)
 *   integer   a whole number within [min, max]
 *   choice    one of a few words
 *   mode      an octal file mode
 *   text      anything else: daemon-config.ts reads it (a path, an address, a URL...)
 */
export type OptionValue =
  | { readonly kind: 'switch' }
  | { readonly kind: 'integer'; readonly min: number; readonly max: number }
  | { readonly kind: 'choice'; readonly choices: readonly string[] }
  | { readonly kind: 'mode' }
  | { readonly kind: 'text' };

interface OptionSpec {
  /** commander's flags: "-m, --run-dir <dir>" takes a value, "-r, --realm-join" is a switch. */
  readonly flags: string;
  /** The variable's name after SASLAUTHD_MYSQL_; absent for options the environment cannot set. */
  readonly env?: string;
  /** What it does; the help text adds the default. */
  readonly help: string;
  readonly value: OptionValue;
  /**
   * The value when neither a flag nor the variable sets it. A sentence where
   * the configuration works it out (daemon-config.ts does); absent when unset
   * means off.
   */
  readonly default?: number | string;
  /** 'reload': SIGHUP applies a new value. 'restart': only read at start-up; a reload says a restart is needed. */
  readonly applies: 'reload' | 'restart';
  /** 'url-password': the value is a URL whose password `saslauthd-mysql config` masks. */
  readonly secret?: 'url-password';
}

export const MECHANISMS = ['passwd-file', 'pam', 'mysql'] as const;
export type Mechanism = (typeof MECHANISMS)[number];
export const CRYPT_ENGINES = ['auto', 'native', 'js'] as const;
export type CryptEngine = (typeof CRYPT_ENGINES)[number];

const SWITCH = { kind: 'switch' } as const;
const TEXT = { kind: 'text' } as const;
const integer = (min: number, max: number) => ({ kind: 'integer', min, max }) as const;

export const DAEMON_OPTIONS = [
  { flags: '-a, --mech <mech>', env: 'MECH', help: 'authentication mechanism: pam (reads pam_mysql lines in /etc/pam.d), mysql, or passwd-file', value: { kind: 'choice', choices: MECHANISMS }, applies: 'reload' },
  { flags: '-m, --run-dir <dir>', env: 'RUN_DIR', help: 'directory of the socket, which is DIR/mux', value: TEXT, default: '/run/saslauthd', applies: 'restart' },
  { flags: '-r, --realm-join', env: 'REALM_JOIN', help: 'look users up as login@realm when the realm is not empty (saslauthd -r)', value: SWITCH, applies: 'reload' },
  { flags: '-d, --debug', env: 'DEBUG', help: 'debug logging, human-readable', value: SWITCH, applies: 'restart' },
  { flags: '-V, --log-successes', env: 'LOG_SUCCESSES', help: 'log every successful login at info, as saslauthd -V does (failures are always logged)', value: SWITCH, applies: 'reload' },
  { flags: '-O, --mech-option <option>', env: 'DB_CONFIG', help: 'mechanism option: the passwd-file path, or the database config file (-a mysql, -a pam)', value: TEXT, applies: 'reload' },
  { flags: '--pam-dir <dir>', env: 'PAM_DIR', help: 'where -a pam finds service files', value: TEXT, default: '/etc/pam.d', applies: 'reload' },
  { flags: '--pam-ignore-modules <modules>', env: 'PAM_IGNORE_MODULES', help: 'comma-separated PAM modules (e.g. pam_listfile.so) that -a pam may skip; any other module that could deny a login makes its service refuse to load', value: TEXT, applies: 'reload' },
  { flags: '-c, --cache', env: 'CACHE', help: 'saslauthd -c: recent successes skip the database (old passwords work until -t expires)', value: SWITCH, applies: 'reload' },
  { flags: '-t, --cache-ttl <seconds>', env: 'CACHE_TTL', help: "how long -c remembers a success (saslauthd's default)", value: integer(1, 31_536_000), default: 28_800, applies: 'reload' },
  { flags: '--cache-size <n>', env: 'CACHE_SIZE', help: 'entries the -c cache holds at most', value: integer(1, 10_000_000), default: 10_000, applies: 'reload' },
  { flags: '-s, --cache-table-size <KB>', env: 'CACHE_TABLE_SIZE', help: "saslauthd's -s: the -c cache's size in kilobytes of saslauthd's table, turned into entries (96 bytes each); or give --cache-size", value: integer(1, 1_000_000), applies: 'reload' },
  { flags: '--outage-ttl <seconds>', env: 'OUTAGE_TTL', help: 'while the database is unreachable, accept a login that succeeded within this many seconds (off when not given)', value: integer(1, 86_400), applies: 'reload' },
  { flags: '--verify-cache <n>', env: 'VERIFY_CACHE', help: 'users whose last matching and last failed passwords are remembered against their unchanged row; never stale; 0 turns it off', value: integer(0, 10_000_000), default: 10_000, applies: 'reload' },
  { flags: '-n, --workers <n>', env: 'WORKERS', help: 'accepted for saslauthd compatibility; one process serves all requests', value: integer(0, 10_000), applies: 'reload' },
  { flags: '-l, --no-accept-lock', help: 'accepted for saslauthd compatibility; there is no accept lock', value: SWITCH, applies: 'reload' },
  { flags: '-H, --rimap-host <hostname>', help: "accepted for saslauthd compatibility (its rimap mechanism's host); has no effect here", value: TEXT, applies: 'reload' },
  { flags: '-T, --time-of-day', help: 'accepted for saslauthd compatibility (time-of-day login restrictions); has no effect here', value: SWITCH, applies: 'reload' },
  { flags: '--passwd-file <path>', env: 'PASSWD_FILE', help: 'passwd-file to read users from (same as -O with -a passwd-file)', value: TEXT, applies: 'reload' },
  { flags: '--default-realm <realm>', env: 'DEFAULT_REALM', help: 'realm for logins that arrive with none and contain no "@"', value: TEXT, applies: 'reload' },
  { flags: '--lowercase', env: 'LOWERCASE', help: 'lower-case login and realm before the lookup', value: SWITCH, applies: 'reload' },
  { flags: '--default-scheme <scheme>', env: 'DEFAULT_SCHEME', help: 'scheme of stored values without {SCHEME} or $id$: a pam_mysql crypt= number or name', value: TEXT, default: 'crypt', applies: 'reload' },
  { flags: '--verify-threads <n>', env: 'VERIFY_THREADS', help: 'worker threads for bcrypt, argon2, sha-crypt and phpass', value: integer(1, 256), default: 'one per core', applies: 'restart' },
  { flags: '--verify-queue <n>', env: 'VERIFY_QUEUE', help: 'expensive verifications waiting at most; more are temporary failures', value: integer(1, 100_000), default: 256, applies: 'restart' },
  { flags: '--crypt-engine <engine>', env: 'CRYPT_ENGINE', help: 'md5crypt, DES and sha-crypt by libxcrypt (native), JavaScript (js), or native when built (auto)', value: { kind: 'choice', choices: CRYPT_ENGINES }, default: 'auto', applies: 'restart' },
  { flags: '--max-bcrypt-cost <n>', env: 'MAX_BCRYPT_COST', help: 'refuse, without computing, a stored bcrypt value above this cost', value: integer(4, 31), default: DEFAULT_COST_CEILINGS.bcryptCost, applies: 'reload' },
  { flags: '--max-sha-crypt-rounds <n>', env: 'MAX_SHA_CRYPT_ROUNDS', help: 'refuse, without computing, a stored sha-crypt value above this many rounds', value: integer(1000, 999_999_999), default: DEFAULT_COST_CEILINGS.shaCryptRounds, applies: 'reload' },
  { flags: '--max-argon2-memory <KiB>', env: 'MAX_ARGON2_MEMORY', help: 'refuse, without computing, a stored Argon2 value asking for more memory, in KiB (262144 is 256 MiB)', value: integer(8, 4_194_304), default: DEFAULT_COST_CEILINGS.argon2MemoryKiB, applies: 'reload' },
  { flags: '--max-argon2-passes <n>', env: 'MAX_ARGON2_PASSES', help: 'refuse, without computing, a stored Argon2 value asking for more passes', value: integer(1, 1000), default: DEFAULT_COST_CEILINGS.argon2Passes, applies: 'reload' },
  { flags: '--max-phpass-rounds <log2>', env: 'MAX_PHPASS_ROUNDS', help: 'refuse, without computing, a stored phpass or Drupal 7 value above 2^N rounds', value: integer(7, 30), default: DEFAULT_COST_CEILINGS.phpassLog2, applies: 'reload' },
  { flags: '--socket-mode <mode>', env: 'SOCKET_MODE', help: 'octal mode of the socket (guard access with the directory)', value: { kind: 'mode' }, default: '0666', applies: 'restart' },
  { flags: '--socket-group <group>', env: 'SOCKET_GROUP', help: 'group owning the socket, e.g. sasl', value: TEXT, applies: 'restart' },
  { flags: '--dovecot-socket <path>', env: 'DOVECOT_SOCKET', help: "also serve Dovecot's auth protocol on this UNIX socket (Postfix smtpd_sasl_type = dovecot), with the socket's mode and group", value: TEXT, applies: 'restart' },
  { flags: '--dovecot-plaintext-needs-tls', env: 'DOVECOT_PLAINTEXT_NEEDS_TLS', help: "on the Dovecot protocol, refuse PLAIN and LOGIN for a client whose connection to the MTA is not encrypted (Dovecot's disable_plaintext_auth)", value: SWITCH, applies: 'restart' },
  { flags: '--dovecot-listen <[host:]port>', env: 'DOVECOT_LISTEN', help: "also serve Dovecot's auth protocol on this TCP port (127.0.0.1 unless a host is given); it has no authentication of its own: trusted networks only", value: TEXT, applies: 'restart' },
  { flags: '--dovecot-trusted-peers <addresses>', env: 'DOVECOT_TRUSTED_PEERS', help: "TCP peers of --dovecot-listen (addresses or networks, comma-separated) whose clients' addresses (rip) are believed; from any other TCP peer an address grants nothing (TOTP exceptions, owner addresses) and counts nothing. Peers on the UNIX socket always are", value: TEXT, applies: 'restart' },
  { flags: '--dovecot-policy-listen <[host:]port>', env: 'DOVECOT_POLICY_LISTEN', help: "serve Dovecot's auth policy (auth_policy_server_url) on this TCP port (127.0.0.1 unless a host is given), so a Dovecot that checks passwords itself shares the throttle with SMTP", value: TEXT, applies: 'restart' },
  { flags: '--dovecot-policy-secret-file <path>', env: 'DOVECOT_POLICY_SECRET_FILE', help: "the secret every policy request must carry (Dovecot's auth_policy_server_api_header): one word of 16 or more characters; required with --dovecot-policy-listen", value: TEXT, applies: 'restart' },
  { flags: '--read-timeout <ms>', env: 'READ_TIMEOUT', help: 'drop a connection whose request is not complete within this time', value: integer(50, 600_000), default: 5_000, applies: 'restart' },
  { flags: '--answer-timeout <ms>', env: 'ANSWER_TIMEOUT', help: 'close without a reply (temporary failure) if no answer within this time', value: integer(50, 600_000), default: 10_000, applies: 'restart' },
  { flags: '--max-connections <n>', env: 'MAX_CONNECTIONS', help: 'open connections at most; at the cap a newcomer replaces the oldest stalled one', value: integer(1, 100_000), default: 512, applies: 'restart' },
  { flags: '--max-connections-per-peer <n>', env: 'MAX_CONNECTIONS_PER_PEER', help: 'connections one peer may hold open on each listener: its user on a UNIX socket, its address over TCP', value: integer(1, 100_000), default: 'half of --max-connections', applies: 'restart' },
  { flags: '--oauth-issuer <url>', env: 'OAUTH_ISSUER', help: "offer OAUTHBEARER and XOAUTH2 on the Dovecot protocol: access tokens from this identity provider (its issuer identifier; its discovery document and keys are read from it), checked locally as JWTs", value: TEXT, applies: 'restart' },
  { flags: '--oauth-audience <aud>', env: 'OAUTH_AUDIENCE', help: "what a token's aud must hold: the identifier the provider gives this mail service; required with --oauth-issuer", value: TEXT, applies: 'restart' },
  { flags: '--oauth-claim <claim>', env: 'OAUTH_CLAIM', help: 'the token claim that names the mailbox, looked up in the mailbox table as a login name is', value: TEXT, default: 'email', applies: 'restart' },
  { flags: '--oauth-scope <scope>', env: 'OAUTH_SCOPE', help: 'a scope every token must carry (off when not given)', value: TEXT, applies: 'restart' },
  { flags: '--oauth-client-id <id>', env: 'OAUTH_CLIENT_ID', help: "the daemon's own client at the identity provider: opaque (non-JWT) tokens are asked about at its introspection endpoint (RFC 7662) with this client's credentials (off when not given)", value: TEXT, applies: 'restart' },
  { flags: '--oauth-client-secret-file <path>', env: 'OAUTH_CLIENT_SECRET_FILE', help: "a file holding that client's secret; required with --oauth-client-id", value: TEXT, applies: 'restart' },
  { flags: '--oauth-introspection-cache <seconds>', env: 'OAUTH_INTROSPECTION_CACHE', help: "how long an introspection answer is reused (a revoked token stops working within it); 0 asks the provider for every login", value: integer(0, 300), default: 10, applies: 'restart' },
  { flags: '--oauth-clock-skew <seconds>', env: 'OAUTH_CLOCK_SKEW', help: "how far a token's exp and nbf may be off this host's clock", value: integer(0, 300), default: 30, applies: 'restart' },
  { flags: '--oauth-timeout <ms>', env: 'OAUTH_TIMEOUT', help: "deadline of each request to the identity provider; one that does not answer in time is a temporary failure (Postfix 454), never a wrong token", value: integer(100, 30_000), default: 3_000, applies: 'restart' },
  { flags: '--oauth-key-refresh <seconds>', env: 'OAUTH_KEY_REFRESH', help: "a token signed by a key the daemon does not know fetches the provider's keys again at most this often (a rotated key is picked up within it)", value: integer(1, 3_600), default: 60, applies: 'restart' },
  { flags: '--throttle-after <n>', env: 'THROTTLE_AFTER', help: 'failures of one user or client address before answers are delayed; 0 turns throttling off', value: integer(0, 1_000_000), default: 5, applies: 'reload' },
  { flags: '--throttle-max-delay <ms>', env: 'THROTTLE_MAX_DELAY', help: 'longest delay the throttle adds to one answer; below --answer-timeout', value: integer(0, 600_000), default: 'the smaller of 5000 and half of --answer-timeout', applies: 'reload' },
  { flags: '--throttle-window <seconds>', env: 'THROTTLE_WINDOW', help: 'a user or address with no failure for this long starts over', value: integer(1, 604_800), default: 900, applies: 'reload' },
  { flags: '--throttle-ipv6-prefix <bits>', env: 'THROTTLE_IPV6_PREFIX', help: 'IPv6 client addresses are counted by their network of this many bits (whoever holds a /64 holds 2^64 addresses); IPv4 written as IPv6 is the IPv4 address', value: integer(1, 128), default: 64, applies: 'reload' },
  { flags: '--throttle-store <url>', env: 'THROTTLE_STORE', help: "share the throttle's counts with the other mail hosts through Redis: redis://[user:pass@]host:port[/db], or rediss:// for TLS", value: TEXT, applies: 'restart', secret: 'url-password' },
  { flags: '--throttle-store-key-file <path>', env: 'THROTTLE_STORE_KEY_FILE', help: 'a secret every host shares (16 bytes or more), so the store holds keyed digests (HMAC) of names and addresses; without it, plain SHA-256 and a start-up warning', value: TEXT, applies: 'restart' },
  { flags: '--throttle-store-timeout <ms>', env: 'THROTTLE_STORE_TIMEOUT', help: 'deadline of each throttle-store call; a late or unreachable store means counting on this host alone until it answers', value: integer(5, 10_000), default: 100, applies: 'restart' },
  { flags: '--compromise-networks <n>', env: 'COMPROMISE_NETWORKS', help: "successful logins for one account from this many networks within --compromise-window raise the compromised-account signal (a warning line and a metric); 0 turns it off", value: integer(0, 1000), default: 10, applies: 'restart' },
  { flags: '--compromise-window <seconds>', env: 'COMPROMISE_WINDOW', help: 'the window the compromised-account signal counts networks in', value: integer(60, 604_800), default: 3600, applies: 'restart' },
  { flags: '--compromise-ipv4-prefix <bits>', env: 'COMPROMISE_IPV4_PREFIX', help: 'IPv4 addresses are one network per this many leading bits for the compromised-account signal', value: integer(8, 32), default: 24, applies: 'restart' },
  { flags: '--compromise-ipv6-prefix <bits>', env: 'COMPROMISE_IPV6_PREFIX', help: 'IPv6 addresses are one network per this many leading bits for the compromised-account signal', value: integer(16, 128), default: 64, applies: 'restart' },
  { flags: '--compromise-block <seconds>', env: 'COMPROMISE_BLOCK', help: "after the compromised-account signal, refuse that account's sending logins (smtp, submission, smtps) this long, or until saslauthd-mysql unblock USER; 0: the signal only", value: integer(0, 2_592_000), default: 0, applies: 'restart' },
  { flags: '--metrics-port <port>', env: 'METRICS_PORT', help: 'serve Prometheus metrics on http://127.0.0.1:PORT/metrics (off when not given)', value: integer(0, 65_535), applies: 'restart' },
  { flags: '--metrics-address <ip>', env: 'METRICS_ADDRESS', help: "address for the metrics port (metrics name your users' services and results)", value: TEXT, default: '127.0.0.1', applies: 'restart' },
  { flags: '--shutdown-grace <ms>', env: 'SHUTDOWN_GRACE', help: 'on SIGTERM, time for in-flight requests to finish', value: integer(0, 600_000), default: 5_000, applies: 'reload' },
  { flags: '--environment-file <file>', env: 'ENVIRONMENT_FILE', help: "the file of SASLAUTHD_MYSQL_* lines systemd started the daemon with (the unit's EnvironmentFile=), read again at every reload so that a reload applies what changed there, and says what only a restart applies", value: TEXT, applies: 'reload' },
  { flags: '--saslauthd-sysconfig <file>', env: 'SASLAUTHD_SYSCONFIG', help: "take saslauthd's settings from its settings file as its unit reads them (RHEL's /etc/sysconfig/saslauthd: MECH as -a, SOCKETDIR as -m, FLAGS as its flags); this daemon's own flags and variables win over it, and a reload reads it again", value: TEXT, applies: 'reload' },
  { flags: '--log-level <level>', env: 'LOG_LEVEL', help: 'fatal, error, warn, info, debug or trace', value: { kind: 'choice', choices: LOG_LEVELS }, default: 'info, debug with -d', applies: 'restart' },
] as const satisfies readonly OptionSpec[];

type Spec = (typeof DAEMON_OPTIONS)[number];
type LongName<F extends string> = F extends `${string}--${infer Name} <${string}>` ? Name : F extends `${string}--${infer Name}` ? Name : never;
type Camel<S extends string> = S extends `${infer Head}-${infer Tail}` ? `${Head}${Capitalize<Camel<Tail>>}` : S;
type ValueOf<F extends string> = F extends `${string}<${string}>` ? string : boolean;

/** The options as the command line delivers them: strings, or true for switches. */
export type DaemonFlags = { readonly [S in Spec as Camel<LongName<S['flags']>>]?: ValueOf<S['flags']> };
export type OptionName = keyof DaemonFlags;

export interface OptionSource {
  /** How messages name it: the short flag where there is one, as saslauthd's users know them. */
  readonly label: string;
  readonly longFlag: string;
  /** The full variable name, when the environment can set it. */
  readonly variable?: string;
}

/** One row of the table, by the name DaemonFlags gives it. */
export interface DaemonOption extends OptionSource {
  readonly name: OptionName;
  readonly value: OptionValue;
  readonly default?: number | string;
  readonly applies: 'reload' | 'restart';
  readonly secret?: 'url-password';
}

function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

const OPTIONS: ReadonlyMap<OptionName, DaemonOption> = new Map(
  DAEMON_OPTIONS.map((spec: OptionSpec) => {
    const long = /--([a-z0-9-]+)/.exec(spec.flags)![1]!;
    const short = /^(-[A-Za-z]),/.exec(spec.flags)?.[1];
    const name = camel(long) as OptionName;
    const option: DaemonOption = {
      name,
      label: short ?? `--${long}`,
      longFlag: `--${long}`,
      ...(spec.env ? { variable: ENV_PREFIX + spec.env } : {}),
      value: spec.value,
      ...(spec.default === undefined ? {} : { default: spec.default }),
      applies: spec.applies,
      ...(spec.secret ? { secret: spec.secret } : {}),
    };
    return [name, option];
  }),
);

export function daemonOption(name: OptionName): DaemonOption {
  return OPTIONS.get(name)!;
}

/** Every option, in the table's order. */
export function everyOption(): readonly DaemonOption[] {
  return [...OPTIONS.values()];
}

/** The help text of a row: what it does, and its default when it has one. */
export function helpText(spec: { readonly help: string; readonly default?: number | string }): string {
  return spec.default === undefined ? spec.help : `${spec.help} (default ${spec.default})`;
}

/** Every SASLAUTHD_MYSQL_* variable the daemon options read (the database ones are the mysql config's). */
export const ENV_NAMES: readonly string[] = DAEMON_OPTIONS.flatMap((spec: OptionSpec) => (spec.env ? [spec.env] : []));

/**
 * commander makes "--no-accept-lock" an acceptLock that is false when given:
 * the one place it becomes the noAcceptLock the table names.
 */
export function fromCommander<T extends { readonly acceptLock?: boolean }>(parsed: T): Omit<T, 'acceptLock'> & { readonly noAcceptLock?: true } {
  const { acceptLock, ...rest } = parsed;
  return acceptLock === false ? { ...rest, noAcceptLock: true } : rest;
}
