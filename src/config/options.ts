/**
 * Every daemon option, once: its flags, its environment variable and its help
 * text. The command line (cli/commands.ts), the environment names, the type of
 * what the command line delivers (DaemonFlags) and the documentation check
 * (test/unit/docs.test.ts) are all made from this table, so an option cannot
 * be added to one and forgotten in another. What each value means and how it
 * is validated is config/daemon-config.ts's job.
 */

export const ENV_PREFIX = 'SASLAUTHD_MYSQL_';

interface OptionSpec {
  /** commander's flags: "-m, --run-dir <dir>" takes a value, "-r, --realm-join" is a switch. */
  readonly flags: string;
  /** The variable's name after SASLAUTHD_MYSQL_; absent for options the environment cannot set. */
  readonly env?: string;
  readonly help: string;
}

export const DAEMON_OPTIONS = [
  { flags: '-a, --mech <mech>', env: 'MECH', help: 'authentication mechanism: pam (reads pam_mysql lines in /etc/pam.d), mysql, or passwd-file' },
  { flags: '-m, --run-dir <dir>', env: 'RUN_DIR', help: 'directory of the socket, which is DIR/mux (default /run/saslauthd)' },
  { flags: '-r, --realm-join', env: 'REALM_JOIN', help: 'look users up as login@realm when the realm is not empty (saslauthd -r)' },
  { flags: '-d, --debug', env: 'DEBUG', help: 'debug logging, human-readable' },
  { flags: '-V, --log-successes', env: 'LOG_SUCCESSES', help: 'log every successful login at info, as saslauthd -V does (failures are always logged)' },
  { flags: '-O, --mech-option <option>', env: 'DB_CONFIG', help: 'mechanism option: the passwd-file path, or the database config file (-a mysql, -a pam)' },
  { flags: '--pam-dir <dir>', env: 'PAM_DIR', help: 'where -a pam finds service files (default /etc/pam.d)' },
  { flags: '--pam-ignore-modules <modules>', env: 'PAM_IGNORE_MODULES', help: 'comma-separated PAM modules (e.g. pam_listfile.so) that -a pam may skip; any other module that could deny a login makes its service refuse to load' },
  { flags: '-c, --cache', env: 'CACHE', help: 'saslauthd -c: recent successes skip the database (old passwords work until -t expires)' },
  { flags: '-t, --cache-ttl <seconds>', env: 'CACHE_TTL', help: "how long -c remembers a success (default 28800, saslauthd's)" },
  { flags: '--cache-size <n>', env: 'CACHE_SIZE', help: 'entries the -c cache holds at most (default 10000)' },
  { flags: '-s, --cache-table-size <KB>', env: 'CACHE_TABLE_SIZE', help: "saslauthd's -s: the -c cache's size in kilobytes of saslauthd's table, turned into entries (96 bytes each); or give --cache-size" },
  { flags: '--outage-ttl <seconds>', env: 'OUTAGE_TTL', help: 'while the database is unreachable, accept a login that succeeded within this many seconds (off by default)' },
  { flags: '--verify-cache <n>', env: 'VERIFY_CACHE', help: 'users whose last matching and last failed passwords are remembered against their unchanged row; never stale; 0 turns it off (default 10000)' },
  { flags: '-n, --workers <n>', env: 'WORKERS', help: 'accepted for saslauthd compatibility; one process serves all requests' },
  { flags: '-l, --no-accept-lock', help: 'accepted for saslauthd compatibility; there is no accept lock' },
  { flags: '-H, --rimap-host <hostname>', help: "accepted for saslauthd compatibility (its rimap mechanism's host); has no effect here" },
  { flags: '-T, --time-of-day', help: 'accepted for saslauthd compatibility (time-of-day login restrictions); has no effect here' },
  { flags: '--passwd-file <path>', env: 'PASSWD_FILE', help: 'passwd-file to read users from (same as -O with -a passwd-file)' },
  { flags: '--default-realm <realm>', env: 'DEFAULT_REALM', help: 'realm for logins that arrive with none and contain no "@"' },
  { flags: '--lowercase', env: 'LOWERCASE', help: 'lower-case login and realm before the lookup' },
  { flags: '--default-scheme <scheme>', env: 'DEFAULT_SCHEME', help: 'scheme of stored values without {SCHEME} or $id$: a pam_mysql crypt= number or name (default crypt)' },
  { flags: '--verify-threads <n>', env: 'VERIFY_THREADS', help: 'worker threads for bcrypt, argon2, sha-crypt and phpass (default: one per core)' },
  { flags: '--verify-queue <n>', env: 'VERIFY_QUEUE', help: 'expensive verifications waiting at most; more are temporary failures (default 256)' },
  { flags: '--crypt-engine <engine>', env: 'CRYPT_ENGINE', help: 'md5crypt, DES and sha-crypt by libxcrypt (native), JavaScript (js), or native when built (auto, the default)' },
  { flags: '--max-bcrypt-cost <n>', env: 'MAX_BCRYPT_COST', help: 'refuse, without computing, a stored bcrypt value above this cost (default 14)' },
  { flags: '--max-sha-crypt-rounds <n>', env: 'MAX_SHA_CRYPT_ROUNDS', help: 'refuse, without computing, a stored sha-crypt value above this many rounds (default 1000000)' },
  { flags: '--max-argon2-memory <KiB>', env: 'MAX_ARGON2_MEMORY', help: 'refuse, without computing, a stored Argon2 value asking for more memory (default 262144, 256 MiB)' },
  { flags: '--max-argon2-passes <n>', env: 'MAX_ARGON2_PASSES', help: 'refuse, without computing, a stored Argon2 value asking for more passes (default 10)' },
  { flags: '--max-phpass-rounds <log2>', env: 'MAX_PHPASS_ROUNDS', help: 'refuse, without computing, a stored phpass or Drupal 7 value above 2^N rounds (default 20)' },
  { flags: '--socket-mode <mode>', env: 'SOCKET_MODE', help: 'octal mode of the socket (default 0666; guard access with the directory)' },
  { flags: '--socket-group <group>', env: 'SOCKET_GROUP', help: 'group owning the socket, e.g. sasl' },
  { flags: '--dovecot-socket <path>', env: 'DOVECOT_SOCKET', help: "also serve Dovecot's auth protocol on this UNIX socket (Postfix smtpd_sasl_type = dovecot), with the socket's mode and group" },
  { flags: '--dovecot-plaintext-needs-tls', env: 'DOVECOT_PLAINTEXT_NEEDS_TLS', help: "on the Dovecot protocol, refuse PLAIN and LOGIN for a client whose connection to the MTA is not encrypted (Dovecot's disable_plaintext_auth)" },
  { flags: '--dovecot-listen <[host:]port>', env: 'DOVECOT_LISTEN', help: "also serve Dovecot's auth protocol on this TCP port (127.0.0.1 unless a host is given); it has no authentication of its own: trusted networks only" },
  { flags: '--read-timeout <ms>', env: 'READ_TIMEOUT', help: 'drop a connection whose request is not complete within this time (default 5000)' },
  { flags: '--answer-timeout <ms>', env: 'ANSWER_TIMEOUT', help: 'close without a reply (temporary failure) if no answer within this time (default 10000)' },
  { flags: '--max-connections <n>', env: 'MAX_CONNECTIONS', help: 'open connections at most; at the cap a newcomer replaces the oldest stalled one (default 512)' },
  { flags: '--throttle-after <n>', env: 'THROTTLE_AFTER', help: 'failures of one user or client address before answers are delayed; 0 turns throttling off (default 5)' },
  { flags: '--throttle-max-delay <ms>', env: 'THROTTLE_MAX_DELAY', help: 'longest delay the throttle adds to one answer; below --answer-timeout (default 5000)' },
  { flags: '--throttle-window <seconds>', env: 'THROTTLE_WINDOW', help: 'a user or address with no failure for this long starts over (default 900)' },
  { flags: '--throttle-store <url>', env: 'THROTTLE_STORE', help: "share the throttle's counts with the other mail hosts through Redis: redis://[user:pass@]host:port[/db], or rediss:// for TLS" },
  { flags: '--throttle-store-key-file <path>', env: 'THROTTLE_STORE_KEY_FILE', help: 'a secret every host shares (16 bytes or more), so the store holds keyed digests (HMAC) of names and addresses; without it, plain SHA-256 and a start-up warning' },
  { flags: '--throttle-store-timeout <ms>', env: 'THROTTLE_STORE_TIMEOUT', help: 'deadline of each throttle-store call; a late or unreachable store means counting on this host alone until it answers (default 100)' },
  { flags: '--metrics-port <port>', env: 'METRICS_PORT', help: 'serve Prometheus metrics on http://127.0.0.1:PORT/metrics (off by default)' },
  { flags: '--metrics-address <ip>', env: 'METRICS_ADDRESS', help: "address for the metrics port (default 127.0.0.1; metrics name your users' services and results)" },
  { flags: '--shutdown-grace <ms>', env: 'SHUTDOWN_GRACE', help: 'on SIGTERM, time for in-flight requests to finish (default 5000)' },
  { flags: '--log-level <level>', env: 'LOG_LEVEL', help: 'fatal, error, warn, info, debug or trace (default info, debug with -d)' },
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

function camel(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

const SOURCES: ReadonlyMap<string, OptionSource> = new Map(
  DAEMON_OPTIONS.map((spec: OptionSpec) => {
    const long = /--([a-z0-9-]+)/.exec(spec.flags)![1]!;
    const short = /^(-[A-Za-z]),/.exec(spec.flags)?.[1];
    return [camel(long), { label: short ?? `--${long}`, longFlag: `--${long}`, ...(spec.env ? { variable: ENV_PREFIX + spec.env } : {}) }];
  }),
);

export function optionSource(name: OptionName): OptionSource {
  return SOURCES.get(name)!;
}

/** Every option, by the name DaemonFlags gives it, in the table's order. */
export function everyOption(): ReadonlyArray<readonly [OptionName, OptionSource]> {
  return [...SOURCES] as Array<[OptionName, OptionSource]>;
}

/** Every SASLAUTHD_MYSQL_* variable the daemon options read (the database ones are the mysql config's). */
export const ENV_NAMES: readonly string[] = DAEMON_OPTIONS.flatMap((spec: OptionSpec) => (spec.env ? [spec.env] : []));
