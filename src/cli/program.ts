/**
 * The command tree, built from the option table (config/options.ts): what
 * commands.ts parses, and what the man page is generated from
 * (packaging/man-page.ts), so --help and saslauthd-mysql(8) cannot drift.
 * The commands:
 *
 * saslauthd-mysql [saslauthd options]    run the daemon (foreground)
 * saslauthd-mysql test -u U -p P ...     testsaslauthd-compatible probe
 * saslauthd-mysql check [options]        validate a configuration against the real backend
 * saslauthd-mysql hash [--scheme S]      a stored value for a password read from stdin or a prompt
 */
import { Command, InvalidArgumentError, Option } from 'commander';
// The other commands' modules are imported by their actions, when they run: the daemon (serve) never holds them.
import { printVersion, serve } from './serve.js';
import { AS_SERVICE_OPTION } from './check-as-service.js';
import { DEFAULT_LUA_FILE } from './dovecot-config.js';
import { HASH_SCHEMES } from '../crypt/make-stored-value.js';
import { DAEMON_OPTIONS, ENV_PREFIX, fromCommander, helpText, type DaemonFlags } from '../config/options.js';
import { VERSION } from '../common/version.js';

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

/** A --scheme value, matched in any case; each scheme is listed once in the help. */
function hashScheme(value: string): string {
  const found = HASH_SCHEMES.find((name) => name === value.toUpperCase());
  if (found === undefined) throw new InvalidArgumentError(`expected one of ${HASH_SCHEMES.join(', ')}`);
  return found;
}

/** The daemon's options (config/options.ts), shared by "serve" and "check" (which checks exactly what serve would run). */
function daemonOptions(command: Command): Command {
  for (const spec of DAEMON_OPTIONS) command.option(spec.flags, helpText(spec));
  return command;
}

export function buildProgram(): Command {
  const program = new Command('saslauthd-mysql')
    .description('A saslauthd-compatible authentication daemon for MySQL mailbox tables.')
    .showHelpAfterError('(run with --help for usage)');

  const serveCommand = daemonOptions(program.command('serve', { isDefault: true }))
    .description('run the daemon in the foreground (the default command)')
    .option('-v', 'print the version and mechanisms to standard error, as saslauthd -v does, then exit')
    .option('--version', 'print the version and mechanisms to standard output, then exit')
    .addHelpText('after', `\nEvery long option can also be set as an environment variable, e.g. --run-dir as ${ENV_PREFIX}RUN_DIR.`);
  serveCommand.action(async (options: DaemonFlags & { v?: boolean; version?: boolean; acceptLock?: boolean }) => {
    const { v, version, ...flags } = options;
    if (version || v) {
      printVersion(version ? process.stdout : process.stderr);
      return;
    }
    await serve(fromCommander(flags));
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
      const { runProbe } = await import('./probe.js');
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
    .description("check a configuration: validate it, look at the socket path, run the lookup, name the stored scheme (prints no secret); as root with no flags, the installed service's settings, read and looked up as its user")
    .option('--user <login>', 'look this login up as a login would (with --realm, -r and --default-realm applied)')
    .option('--realm <realm>', 'the realm the client would send (Postfix: the part after the last @)', '')
    .option('--service <service>', 'the service the client would send (picks /etc/pam.d/<service> with -a pam)', 'smtp')
    .option('--timeout <ms>', 'give up on the lookup after this long', wholeNumber, 15_000)
    // Not for people: how a root check for the service runs its second half as the service's user (check-as-service.ts).
    .addOption(new Option(AS_SERVICE_OPTION).hideHelp())
    .action(async (options: DaemonFlags & { user?: string; realm: string; service: string; timeout: number; acceptLock?: boolean; asServiceAccount?: boolean }) => {
      const { user, realm, service, timeout, asServiceAccount, ...flags } = options;
      const { runCheck } = await import('./check.js');
      process.exitCode = await runCheck(
        fromCommander(flags),
        { ...(user === undefined ? {} : { user }), realm, service, timeoutMs: timeout, ...(asServiceAccount ? { asServiceAccount } : {}) },
        process.stdout,
        process.stderr,
      );
    });

  daemonOptions(program.command('config'))
    .description('print the settings that are not left at their default, with where each comes from (flag, variable, file line); secrets masked')
    .action(async (options: DaemonFlags & { acceptLock?: boolean }) => {
      const flags = fromCommander(options);
      const [{ installedServiceSettings }, { runConfigPrint }] = await Promise.all([import('./service-view.js'), import('./config-print.js')]);
      // Root, no daemon flags, the unit installed: the settings the service runs with.
      const service = Object.values(flags).every((value) => value === undefined) ? installedServiceSettings() : undefined;
      if (service) process.stdout.write(`# as the service runs: ${service.from}\n`);
      if (service && service.commandLineFlags.length > 0) process.stderr.write(`warn: the unit's ExecStart adds ${service.commandLineFlags.join(' ')}, which beats these settings and is not shown here\n`);
      process.exitCode = runConfigPrint(flags, process.stdout, process.stderr, service?.env ?? process.env);
    });

  daemonOptions(program.command('dovecot-config'))
    .description("print the Dovecot settings that send Dovecot's IMAP, POP3 and ManageSieve logins here (a Lua passdb asking this daemon's socket), or with --dovecot-policy-listen those of the auth policy, for the configuration these flags give; as root with no flags, the installed service's")
    .option('--lua-file <path>', 'where the Lua script is installed', DEFAULT_LUA_FILE)
    .option('--dovecot-version <release>', "the syntax to print: 2.3 (Debian 12) or 2.4 (Debian 13); the installed Dovecot's by default")
    .action(async (options: DaemonFlags & { luaFile: string; dovecotVersion?: string; acceptLock?: boolean }) => {
      const { luaFile, dovecotVersion, ...rest } = options;
      const flags = fromCommander(rest);
      const [{ installedServiceSettings }, { runDovecotConfig }] = await Promise.all([import('./service-view.js'), import('./dovecot-config.js')]);
      const service = Object.values(flags).every((value) => value === undefined) ? installedServiceSettings() : undefined;
      process.exitCode = runDovecotConfig(flags, { luaFile, ...(dovecotVersion === undefined ? {} : { dovecotVersion }) }, process.stdout, process.stderr, service?.env ?? process.env);
    });

  daemonOptions(program.command('unblock'))
    .description("lift the compromised-account signal's block on USER's sending logins (--compromise-block), through the running daemon's control socket; as root with no flags, the installed service's")
    .argument('<user>', 'the mailbox, as the log shows it (user=...)')
    .action(async (user: string, options: DaemonFlags & { acceptLock?: boolean }) => {
      const flags = fromCommander(options);
      const [{ installedServiceSettings }, { runUnblock }] = await Promise.all([import('./service-view.js'), import('./unblock.js')]);
      const service = Object.values(flags).every((value) => value === undefined) ? installedServiceSettings() : undefined;
      process.exitCode = await runUnblock(flags, user, process.stdout, process.stderr, service?.env ?? process.env);
    });

  daemonOptions(program.command('prepare-socket-dirs'))
    .description("as root, before the daemon starts (the unit's ExecStartPre=+): make the socket directories ones the daemon's user can create its sockets in")
    .requiredOption('--owner <user>', "the daemon's user (the unit's User=)")
    .action(async (options: DaemonFlags & { owner: string; acceptLock?: boolean }) => {
      const { owner, ...flags } = options;
      const { runPrepareSocketDirs } = await import('./prepare-socket-dirs.js');
      process.exitCode = runPrepareSocketDirs(fromCommander(flags), owner, process.stdout);
    });

  program
    .command('hash')
    .description('print a stored value for a new password, read from a prompt or standard input (never from the command line)')
    .addOption(new Option('--scheme <scheme>', `hash scheme, in any case: ${HASH_SCHEMES.join(', ')}`).argParser(hashScheme).default('SHA512-CRYPT'))
    .option('--prefix', 'write the Dovecot {SCHEME} prefix (PostfixAdmin with dovecot: encryption)')
    .option('--rounds <n>', 'sha-crypt rounds (default 5000)', wholeNumber)
    .option('--cost <n>', 'bcrypt cost (default 10)', wholeNumber)
    .action(async (options: { scheme: string; prefix?: boolean; rounds?: number; cost?: number }) => {
      const { runHash } = await import('./hash.js');
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
  program.version(VERSION, '--package-version', 'print the package version alone');
  // "saslauthd-mysql --help" is mostly asked by someone who wants the daemon's flags: show them here too.
  program.addHelpText('after', () => {
    const serveHelp = serveCommand.helpInformation();
    return `\nThe daemon's options (the default command, serve):\n${serveHelp.slice(serveHelp.indexOf('Options:') + 'Options:'.length + 1)}`;
  });
  return program;
}
