/**
 * "saslauthd-mysql check": everything the daemon would do at start and at a
 * login, short of answering one. Validates the configuration (same options
 * and variables as the daemon), looks at the socket path, runs the lookup
 * against the real backend, and names the scheme of the stored value. It
 * never prints a password or a stored value. Exit 0 when all is well.
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { resolveDaemonConfig, type CryptEngine, type DaemonConfig, type DaemonFlags } from '../config/daemon-config.js';
import { describeStoredValue } from '../crypt/verifier.js';
import { loadNativeCrypt } from '../crypt/native-crypt.js';
import { createBackend } from '../backends/index.js';
import { ConfigError, describeError } from '../errors.js';
import { socketPathState } from '../protocol/socket-file.js';
import { resolveLoginKey } from '../realm/login-key.js';

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

export async function runCheck(flags: DaemonFlags, options: CheckOptions, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const ok: Report = (line) => out.write(`ok: ${line}\n`);
  const problem: Report = (line) => err.write(`problem: ${line}\n`);
  let config: DaemonConfig;
  try {
    config = resolveDaemonConfig(flags);
  } catch (error) {
    if (error instanceof ConfigError) {
      problem(`configuration: ${error.message}`);
      return 1;
    }
    throw error;
  }
  ok(`configuration: ${summary(config)}`);

  let healthy = true;
  const socketState = await socketPathState(config.socketPath);
  (socketState === 'not a socket' ? problem : ok)(`socket ${config.socketPath}: ${SOCKET_STATES[socketState]}`);
  if (socketState === 'not a socket') healthy = false;

  // Warnings a backend gives about its configuration (pam_mysql options it ignores, say) go to stderr.
  const logger = pino({ level: 'warn', base: null, redact: { paths: ['password', 'passwd', '*.password'], censor: '[redacted]' } }, pino.destination({ dest: 2, sync: true }));
  const backend = createBackend(config.backend, logger);
  try {
    // Without a user, a name no mailbox has: proves the database answers and the query runs.
    const probing = options.user === undefined;
    const login = options.user ?? `saslauthd-mysql-check-${randomBytes(6).toString('hex')}`;
    const key = resolveLoginKey(Buffer.from(login), Buffer.from(options.realm), config.realm);
    if (!key.ok) {
      problem(`the ${key.field} "${key.escaped}" cannot be looked up: ${key.problem}`);
      return 1;
    }
    const label = `${probing ? 'lookup of a name no mailbox has' : `user ${key.key.user}`} (service ${options.service})`;
    const started = performance.now();
    const result = await backend.lookup({ user: key.key.user, realm: key.key.realm, service: options.service }, { signal: AbortSignal.timeout(options.timeoutMs) });
    const took = `${(performance.now() - started).toFixed(1)} ms`;
    switch (result.status) {
      case 'unavailable':
        problem(`${label}: the ${config.mech} backend could not answer (${result.code}): ${result.reason}`);
        return 1;
      case 'refused':
        problem(`${label}: refused (${result.code}): ${result.reason}`);
        return 1;
      case 'misconfigured':
        problem(`${label}: a configuration problem (${result.code}; logins get a temporary failure until it is fixed): ${result.reason}`);
        return 1;
      case 'unknown':
        if (probing) {
          ok(`${config.mech} backend answers: ${label} came back "unknown" in ${took}`);
          return healthy ? 0 : 1;
        }
        problem(`${label}: no such user, or not active (${took})`);
        return 1;
      case 'found': {
        const scheme = describeStoredValue(result.storedHash, result.defaultScheme ?? config.defaultScheme, config.ceilings);
        if (!scheme.supported) {
          problem(`${label}: found, but its stored value cannot be verified: ${scheme.reason}`);
          return 1;
        }
        ok(`${label}: found in ${took}; stored value is ${scheme.scheme}, verified ${whereVerified(scheme.scheme, scheme.runs, config.verify.engine)}`);
        return healthy ? 0 : 1;
      }
    }
  } catch (error) {
    problem(`lookup failed: ${describeError(error).message}`);
    return 1;
  } finally {
    await backend.close();
  }
}
