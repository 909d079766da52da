/**
 * "saslauthd-mysql check": everything the daemon would do at start and at a
 * login, short of answering one. Validates the configuration (same options
 * and variables as the daemon), looks at the socket path, runs the lookup
 * against the real backend, and names the scheme of the stored value. It
 * never prints a password or a stored value. Exit 0 when all is well.
 */
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import pino, { type Logger } from 'pino';
import { resolveDaemonConfig, type CryptEngine, type DaemonConfig, type DaemonFlags } from '../config/daemon-config.js';
import { describeStoredValue } from '../crypt/verifier.js';
import { loadNativeCrypt } from '../crypt/native-crypt.js';
import { createBackend } from '../backends/index.js';
import { ConfigError, describeError } from '../errors.js';
import { runningAs, socketPathState, trySocketPath } from '../protocol/socket-file.js';
import { readRequest } from '../auth/read-request.js';
import { installedServiceSettings, serviceSocketFindings, type ServiceSettings } from './service-view.js';
import { checkAsAccount, childHeader } from './check-as-service.js';
import { judgeSecretsFor } from '../common/exposed-file.js';

/** Where the daemon, with this --crypt-engine, would check a value of this scheme. */
function whereVerified(scheme: string, runs: 'inline' | 'fast pool' | 'slow pool', engine: CryptEngine): string {
  if (runs === 'inline') return 'inline';
  // The addon takes md5crypt ($1$) and DES, and sha-crypt inside the slow pool; Apache's $apr1$ stays in JavaScript.
  const byAddon = scheme === 'MD5-CRYPT' || scheme === 'DES-CRYPT' ? 'by libxcrypt (native addon)' : scheme === 'SHA256-CRYPT' || scheme === 'SHA512-CRYPT' ? `in the ${runs}, by libxcrypt (native addon)` : undefined;
  if (byAddon && engine !== 'js') {
    const native = loadNativeCrypt();
    if (native.loaded) return byAddon;
    if (engine === 'native') return `by libxcrypt, but the daemon will not start: ${native.reason}`;
  }
  return `in the ${runs}`;
}

export interface CheckOptions {
  readonly user?: string;
  readonly realm: string;
  readonly service: string;
  readonly timeoutMs: number;
  /** This check is the second process of a root check for the service, running as its user (check-as-service.ts). */
  readonly asServiceAccount?: boolean;
}

type Report = (line: string) => void;


const SOCKET_STATES = {
  absent: 'free (nothing there yet)',
  live: 'a daemon answers there already (the old saslauthd, or saslauthd-mysql): stop it before starting another',
  stale: 'a socket file nobody answers on (left by a crash); the daemon will replace it',
  'not a socket': 'exists and is not a socket: the daemon will refuse to start',
} as const;

function summary(config: DaemonConfig): string {
  const parts = [`-a ${config.mech}`, `socket ${config.socketPath}`, `realm join ${config.realm.joinRealm ? 'on (-r)' : 'off'}`];
  if (config.realm.defaultRealm) parts.push(`default realm ${config.realm.defaultRealm}`);
  parts.push(`default scheme ${config.defaultScheme}`);
  return parts.join(', ');
}

/**
 * The lines check prints, one per finding: "ok:" on standard output,
 * "warn:" and "problem:" on standard error. Any warning or problem makes the
 * exit status 1: a configuration the daemon would run with a warning is not
 * one to switch to unread.
 */
class CheckReport {
  readonly #out: NodeJS.WritableStream;
  readonly #err: NodeJS.WritableStream;
  warnings = 0;
  problems = 0;

  constructor(out: NodeJS.WritableStream, err: NodeJS.WritableStream) {
    this.#out = out;
    this.#err = err;
  }

  readonly ok: Report = (line) => this.#out.write(`ok: ${line}\n`);
  readonly warn: Report = (line) => {
    this.warnings += 1;
    this.#err.write(`warn: ${line}\n`);
  };
  readonly problem: Report = (line) => {
    this.problems += 1;
    this.#err.write(`problem: ${line}\n`);
  };

  /**
   * What the backend logs while it loads (a malformed passwd-file line, a
   * pam_mysql option it ignores) becomes one "warn:" line each, never raw
   * JSON. Messages carry no secret by design; the redaction is a second lock.
   */
  logger(): Logger {
    const lines = {
      write: (json: string) => {
        const record = JSON.parse(json) as { level: number; msg?: string; path?: string; file?: string; event?: string };
        const where = record.path ?? record.file;
        const line = `${record.msg ?? json.trim()}${where && !String(record.msg).includes(where) ? ` (${where})` : ''}`;
        // The preset's line says which of PostfixAdmin's rules are on: worth showing even when all is well.
        if (record.event === 'preset') (record.level >= 50 ? this.problem : this.ok)(line);
        else if (record.level >= 40) this.warn(line);
      },
    };
    return pino({ level: 'info', base: null, redact: { paths: ['password', 'passwd', '*.password'], censor: '[redacted]' } }, lines);
  }

  /** 0 when everything was ok; 1 on any warning or problem, with a last line saying so. */
  exitCode(): number {
    if (this.problems === 0 && this.warnings === 0) return 0;
    if (this.problems === 0) this.#err.write(`${this.warnings} warning(s): the daemon would start, but fix what they say first\n`);
    return 1;
  }
}

export async function runCheck(flags: DaemonFlags, options: CheckOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  // The second process writes every finding to standard output, in order, for the first to read.
  const report = options.asServiceAccount ? new CheckReport(out, out) : new CheckReport(out, err);
  try {
    if (options.asServiceAccount) await checkAsTheServiceAccount(flags, options, report);
    else await checkEverything(flags, options, report);
  } catch (error) {
    // Whatever went wrong is one line with its code, never a stack trace.
    const { code, message } = describeError(error);
    report.problem(`${message}${code ? ` (${code})` : ''}`);
  }
  return report.exitCode();
}

async function checkEverything(flags: DaemonFlags, options: CheckOptions, report: CheckReport): Promise<void> {
  // Root, no daemon flags, the unit installed: check what the service runs with, for its user.
  const service = Object.values(flags).every((value) => value === undefined) ? installedServiceSettings() : undefined;
  if (service) {
    report.ok(`checking as the service runs: ${service.from}`);
    if (service.commandLineFlags.length > 0) {
      report.warn(`the unit's ExecStart adds ${service.commandLineFlags.join(' ')}, which beats ${service.settingsFile ?? 'the settings file'} and which check does not read: put it there as a variable (every flag has one, configuration.md) and take the ExecStart lines out of the override (systemctl edit saslauthd-mysql.service)`);
    }
    judgeSecretsFor(service.user);
  }
  const config = resolveOrReport(flags, service?.env ?? process.env, report, 'configuration');
  if (!config) return;
  report.ok(`configuration: ${summary(config)}`);
  await checkSocket(config, report, service);
  if (!service?.user) {
    await checkLookup(config, options, report);
    return;
  }
  // Root reads every file, and MariaDB lets root in by unix_socket: the service's user answers for itself.
  const child = await checkAsAccount(service.user, service.env, options);
  if (child.ran) {
    for (const finding of child.findings) report[finding.kind](finding.text);
    return;
  }
  report.warn(`could not check as ${service.user.name} (${child.why}): the settings' files and the lookup are checked as root, who may read and reach what ${service.user.name} cannot`);
  await checkLookup(config, options, report);
}

/** The second process, as the service's user: its own reading of the settings' files, and the lookup. */
async function checkAsTheServiceAccount(flags: DaemonFlags, options: CheckOptions, report: CheckReport): Promise<void> {
  const me = userInfo();
  const account = { name: me.username, uid: me.uid, gid: me.gid };
  report.ok(childHeader(account));
  const config = resolveOrReport(flags, process.env, report, `configuration, read as ${account.name}`);
  if (config) await checkLookup(config, options, report);
}

/** The configuration, or a problem line saying why there is none. */
function resolveOrReport(flags: DaemonFlags, env: NodeJS.ProcessEnv, report: CheckReport, what: string): DaemonConfig | undefined {
  try {
    return resolveDaemonConfig(flags, env);
  } catch (error) {
    if (error instanceof ConfigError) {
      report.problem(`${what}: ${error.message}`);
      return undefined;
    }
    throw error;
  }
}

async function checkSocket(config: DaemonConfig, report: CheckReport, service: ServiceSettings | undefined): Promise<void> {
  const { ok, problem } = report;
  const socketState = await socketPathState(config.socketPath);
  (socketState === 'not a socket' ? problem : ok)(`socket ${config.socketPath}: ${SOCKET_STATES[socketState]}`);
  if (service) {
    // Root may write anywhere: what the service, as its own user and in its sandbox, will meet.
    for (const finding of serviceSocketFindings(config, service.user?.name)) (finding.ok ? ok : problem)(finding.line);
  } else if (socketState !== 'not a socket') {
    // Tried as this user, even while the old saslauthd still answers there: the switch must not
    // find out at the moment saslauthd stops.
    const cannot = await trySocketPath(config.socketPath);
    if (cannot) problem(`socket ${config.socketPath}: ${cannot}`);
    else ok(`socket ${config.socketPath}: ${runningAs()} can create it there`);
  }
}

async function checkLookup(config: DaemonConfig, options: CheckOptions, report: CheckReport): Promise<void> {
  const { ok, problem } = report;
  const backend = createBackend(config.backend, report.logger());
  try {
    // Without a user, a name no mailbox has: proves the database answers and the query runs.
    const probing = options.user === undefined;
    const login = options.user ?? `saslauthd-mysql-check-${randomBytes(6).toString('hex')}`;
    // Read as the daemon reads a login on its socket: the same decoding, -r joining and refusals.
    const read = readRequest({ listener: 'mux', login: Buffer.from(login), service: Buffer.from(options.service), realm: Buffer.from(options.realm) }, config.realm, backend.mechanism);
    if (!read.ok) {
      problem(`"${read.names.user}" (realm "${read.names.realm}", service "${read.names.service}") cannot be looked up: ${read.refusal.reason ?? read.refusal.code}`);
      return;
    }
    const label = `${probing ? 'lookup of a name no mailbox has' : `user ${read.query.user}`} (service ${read.query.service})`;
    const started = performance.now();
    const result = await backend.lookup(read.query, { signal: AbortSignal.timeout(options.timeoutMs) });
    const took = `${(performance.now() - started).toFixed(1)} ms`;
    switch (result.status) {
      case 'unavailable':
        problem(`${label}: the ${config.mech} backend could not answer (${result.code}): ${result.reason}`);
        return;
      case 'refused':
        problem(`${label}: refused (${result.code}): ${result.reason}`);
        return;
      case 'misconfigured':
        problem(`${label}: a configuration problem (${result.code}; logins get a temporary failure until it is fixed): ${result.reason}`);
        return;
      case 'unknown':
        if (probing) {
          ok(`${config.mech} backend answers: ${label} came back "unknown" in ${took}`);
          return;
        }
        problem(`${label}: no such user, or not active (${took})`);
        return;
      case 'found': {
        const several = result.candidates.length > 1;
        for (const [index, candidate] of result.candidates.entries()) {
          const which = several ? ` value ${index + 1} of ${result.candidates.length} (${candidate.role})` : '';
          const scheme = describeStoredValue(candidate.stored, result.defaultScheme ?? config.defaultScheme, config.ceilings);
          if (!scheme.supported) {
            problem(`${label}: found, but its stored${which} value cannot be verified: ${scheme.reason}`);
            continue;
          }
          const refused = candidate.refusal ? `; a match is refused now (${candidate.refusal.code}): ${candidate.refusal.reason}` : '';
          ok(`${label}: found in ${took}; stored${which} value is ${scheme.scheme}, verified ${whereVerified(scheme.scheme, scheme.runs, config.verify.engine)}${refused}`);
        }
        return;
      }
    }
  } catch (error) {
    problem(`lookup failed: ${describeError(error).message}`);
    return;
  } finally {
    await backend.close();
  }
}
