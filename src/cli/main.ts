#!/usr/bin/env -S node --max-semi-space-size=8
/**
 * (The shebang sets V8's young generation to 8 MB: under load, each login's
 * garbage is collected with less copying of the requests still in flight,
 * about 3% more logins per second than 2 MB and 16 MB, for a few MB of
 * memory. docs/BENCHMARKS.md.)
 *
 * saslauthd-mysql [saslauthd options]    run the daemon (foreground)
 * saslauthd-mysql test -u U -p P ...     testsaslauthd-compatible probe
 * saslauthd-mysql check [options]        validate a configuration against the real backend
 * saslauthd-mysql hash [--scheme S]      a stored value for a password read from stdin or a prompt
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { printVersion, serve } from './serve.js';
import { runProbe } from './probe.js';
import { runCheck } from './check.js';
import { runHash } from './hash.js';
import { HASH_SCHEMES } from '../crypt/make-stored-value.js';
import type { DaemonFlags } from '../config/daemon-config.js';
import { ENV_PREFIX } from '../config/daemon-config.js';
import { VERSION } from './version.js';

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

/** The daemon's options, shared by "serve" and "check" (which checks exactly what serve would run). */
function daemonOptions(command: Command): Command {
  return command
    .option('-a, --mech <mech>', 'authentication mechanism: pam (reads pam_mysql lines in /etc/pam.d), mysql, or passwd-file')
    .option('-m, --run-dir <dir>', 'directory of the socket, which is DIR/mux (default /run/saslauthd)')
    .option('-r, --realm-join', 'look users up as login@realm when the realm is not empty (saslauthd -r)')
    .option('-d, --debug', 'debug logging, human-readable')
    .option('-V, --log-successes', 'log every successful login at info, as saslauthd -V does (failures are always logged)')
    .option('-O, --mech-option <option>', 'mechanism option: the passwd-file path, or the database config file (-a mysql, -a pam)')
    .option('--pam-dir <dir>', 'where -a pam finds service files (default /etc/pam.d)')
    .option('-c, --cache', 'saslauthd -c: recent successes skip the database (old passwords work until -t expires)')
    .option('-t, --cache-ttl <seconds>', 'how long -c remembers a success (default 28800, saslauthd\'s)')
    .option('--cache-size <n>', 'entries the -c cache holds at most (default 10000)')
    .option('--outage-ttl <seconds>', 'while the database is unreachable, accept a login that succeeded within this many seconds (off by default)')
    .option('--verify-cache <n>', 'users whose last matching and last failed passwords are remembered against their unchanged row; never stale; 0 turns it off (default 10000)')
    .option('-n, --workers <n>', 'accepted for saslauthd compatibility; one process serves all requests')
    .option('-l, --no-accept-lock', 'accepted for saslauthd compatibility; there is no accept lock')
    .option('--passwd-file <path>', 'passwd-file to read users from (same as -O with -a passwd-file)')
    .option('--default-realm <realm>', 'realm for logins that arrive with none and contain no "@"')
    .option('--lowercase', 'lower-case login and realm before the lookup')
    .option('--default-scheme <scheme>', 'scheme of stored values without {SCHEME} or $id$: a pam_mysql crypt= number or name (default crypt)')
    .option('--verify-threads <n>', 'worker threads for bcrypt, argon2, sha-crypt and phpass (default: one per core)')
    .option('--verify-queue <n>', 'expensive verifications waiting at most; more are temporary failures (default 256)')
    .option('--crypt-engine <engine>', 'md5crypt, DES and sha-crypt by libxcrypt (native), JavaScript (js), or native when built (auto, the default)')
    .option('--socket-mode <mode>', 'octal mode of the socket (default 0666; guard access with the directory)')
    .option('--socket-group <group>', 'group owning the socket, e.g. sasl')
    .option('--read-timeout <ms>', 'drop a connection whose request is not complete within this time (default 5000)')
    .option('--answer-timeout <ms>', 'close without a reply (temporary failure) if no answer within this time (default 10000)')
    .option('--max-connections <n>', 'open connections at most; at the cap a newcomer replaces the oldest stalled one (default 512)')
    .option('--throttle-after <n>', 'failures of one user or client address before answers are delayed; 0 turns throttling off (default 5)')
    .option('--throttle-max-delay <ms>', 'longest delay the throttle adds to one answer; below --answer-timeout (default 5000)')
    .option('--throttle-window <seconds>', 'a user or address with no failure for this long starts over (default 900)')
    .option('--metrics-port <port>', 'serve Prometheus metrics on http://127.0.0.1:PORT/metrics (off by default)')
    .option('--metrics-address <ip>', 'address for the metrics port (default 127.0.0.1; metrics name your users\' services and results)')
    .option('--shutdown-grace <ms>', 'on SIGTERM, time for in-flight requests to finish (default 5000)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (default info, debug with -d)');
}

const program = new Command('saslauthd-mysql')
  .description('A saslauthd-compatible authentication daemon for MySQL mailbox tables.')
  .showHelpAfterError('(run with --help for usage)');

daemonOptions(program.command('serve', { isDefault: true }))
  .description('run the daemon in the foreground (the default command)')
  .option('-v, --version', 'print the version and mechanisms, then exit')
  .addHelpText('after', `\nEvery long option can also be set as an environment variable, e.g. --run-dir as ${ENV_PREFIX}RUN_DIR.`)
  .action(async (options: DaemonFlags & { version?: boolean; acceptLock?: boolean }) => {
    if (options.version) {
      printVersion();
      return;
    }
    // commander turns "--no-accept-lock" into acceptLock=false.
    await serve({ ...options, noAcceptLock: options.acceptLock === false });
  });

program
  .command('test')
  .description('ask a running daemon, exactly like Cyrus testsaslauthd')
  .requiredOption('-u <user>', 'user name')
  .requiredOption('-p <password>', 'password (visible in the process list, as with testsaslauthd)')
  .option('-r <realm>', 'realm', '')
  .option('-s <service>', 'service name', 'imap')
  .option('-f <socket>', 'socket path, including /mux', '/run/saslauthd/mux')
  .option('-R <repeat>', 'repeat the request this many times', wholeNumber, 1)
  .option('--show-reply', "also print the daemon's reply text")
  .addOption(new Option('--client-address <addr;port>', 'send the fifth field (cyrus-sasl 2.2 clients do)'))
  .option('--timeout <ms>', 'give up waiting for a reply after this long', wholeNumber, 10_000)
  .action(async (options: { u: string; p: string; r: string; s: string; f: string; R: number; showReply?: boolean; clientAddress?: string; timeout: number }) => {
    process.exitCode = await runProbe(
      {
        socketPath: options.f,
        user: options.u,
        password: options.p,
        realm: options.r,
        service: options.s,
        repeat: options.R,
        showReply: Boolean(options.showReply),
        timeoutMs: options.timeout,
        ...(options.clientAddress === undefined ? {} : { clientAddress: options.clientAddress }),
      },
      process.stdout,
      process.stderr,
    );
  });

daemonOptions(program.command('check'))
  .description('check a configuration: validate it, look at the socket path, run the lookup, name the stored scheme (prints no secret)')
  .option('--user <login>', 'look this login up as a login would (with --realm, -r and --default-realm applied)')
  .option('--realm <realm>', 'the realm the client would send (Postfix: the part after the last @)', '')
  .option('--service <service>', 'the service the client would send (picks /etc/pam.d/<service> with -a pam)', 'smtp')
  .option('--timeout <ms>', 'give up on the lookup after this long', wholeNumber, 15_000)
  .action(async (options: DaemonFlags & { user?: string; realm: string; service: string; timeout: number; acceptLock?: boolean }) => {
    const { user, realm, service, timeout, acceptLock, ...flags } = options;
    process.exitCode = await runCheck(
      { ...flags, noAcceptLock: acceptLock === false },
      { ...(user === undefined ? {} : { user }), realm, service, timeoutMs: timeout },
      process.stdout,
      process.stderr,
    );
  });

program
  .command('hash')
  .description('print a stored value for a new password, read from a prompt or standard input (never from the command line)')
  .addOption(new Option('--scheme <scheme>', 'hash scheme').choices([...HASH_SCHEMES, ...HASH_SCHEMES.map((name) => name.toLowerCase())]).default('SHA512-CRYPT'))
  .option('--prefix', 'write the Dovecot {SCHEME} prefix (PostfixAdmin with dovecot: encryption)')
  .option('--rounds <n>', 'sha-crypt rounds (default 5000)', wholeNumber)
  .option('--cost <n>', 'bcrypt cost (default 10)', wholeNumber)
  .action(async (options: { scheme: string; prefix?: boolean; rounds?: number; cost?: number }) => {
    process.exitCode = await runHash(
      {
        scheme: options.scheme,
        prefix: Boolean(options.prefix),
        ...(options.rounds === undefined ? {} : { rounds: options.rounds }),
        ...(options.cost === undefined ? {} : { cost: options.cost }),
      },
      process.stdout,
      process.stderr,
    );
  });

// No short flag: -V is saslauthd's "verbose" (--log-successes), -v its version (with the mechanisms).
program.version(VERSION, '--package-version', 'print the package version');

await program.parseAsync(process.argv);
