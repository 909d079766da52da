/**
 * "saslauthd-mysql config": the configuration the daemon would run with, as
 * postconf -n and doveconf -n show theirs: every setting not left at its
 * default, with where its value comes from (the command line, an environment
 * variable, saslauthd's settings file, a line of the -O file). Checked first, exactly as the daemon
 * checks it. Secrets are masked, never printed.
 */
import { resolveDaemonConfig, type DaemonConfig, type DaemonFlags } from '../config/daemon-config.js';
import { ENV_PREFIX, everyOption } from '../config/options.js';
import { settingSources } from '../backends/mysql/native-config.js';
import { describeError } from '../errors.js';

const MASK = '******** (masked)';
/** Settings whose value is a secret, whatever file or variable sets it. */
const SECRET_KEYS: ReadonlySet<string> = new Set(['password', 'rehash_password']);

type Line = readonly [setting: string, value: string, origin: string];

function flagLines(flags: DaemonFlags, env: NodeJS.ProcessEnv, sysconfig: DaemonConfig['saslauthdSysconfig']): Line[] {
  const lines: Line[] = [];
  for (const option of everyOption()) {
    const given = flags[option.name];
    // A URL that may carry a password (the option's row says so) is shown with the password masked.
    const shown = (value: string) => (option.secret === 'url-password' ? maskUrlPassword(value) : value);
    if (given !== undefined) lines.push([option.longFlag, given === true ? 'yes' : shown(String(given)), `command line (${option.label})`]);
    else if (option.variable && env[option.variable]) lines.push([option.longFlag, shown(env[option.variable]!), option.variable]);
    else if (sysconfig?.flags[option.name] !== undefined) {
      const taken = sysconfig.flags[option.name]!;
      lines.push([option.longFlag, taken === true ? 'yes' : shown(String(taken)), sysconfig.origins[option.name]!]);
    }
  }
  return lines;
}

function maskUrlPassword(value: string): string {
  try {
    const url = new URL(value);
    if (url.password === '') return value;
    url.password = 'masked';
    return url.href.replace(':masked@', ':********@');
  } catch {
    // resolveDaemonConfig has refused it already; never echo what may hold a secret.
    return MASK;
  }
}

function backendLines(config: DaemonConfig, flags: DaemonFlags, env: NodeJS.ProcessEnv): Line[] {
  if (config.backend.kind === 'passwd-file') return [];
  const file = flags.mechOption ?? (env[`${ENV_PREFIX}DB_CONFIG`] || config.saslauthdSysconfig?.flags.mechOption);
  return settingSources(file || undefined, env).map(({ key, value, origin }) => [key, SECRET_KEYS.has(key) ? MASK : value, origin] as const);
}

function format(lines: readonly Line[]): string {
  const width = Math.max(0, ...lines.map(([setting, value]) => setting.length + value.length + 3));
  return lines.map(([setting, value, origin]) => `${`${setting} = ${value}`.padEnd(width)}  # ${origin}\n`).join('');
}

/** The configuration the daemon would run with, or undefined once the reason it would not start is on `err`. */
export function resolveOrSay(flags: DaemonFlags, env: NodeJS.ProcessEnv, err: NodeJS.WritableStream): DaemonConfig | undefined {
  try {
    return resolveDaemonConfig(flags, env);
  } catch (error) {
    err.write(`problem: configuration: ${describeError(error).message}\n`);
    return undefined;
  }
}

export function runConfigPrint(flags: DaemonFlags, out: NodeJS.WritableStream, err: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): number {
  const config = resolveOrSay(flags, env, err);
  if (!config) return 1;
  out.write('# the settings not left at their default, and where each comes from; every other setting has its default (saslauthd-mysql --help)\n');
  out.write(format(flagLines(flags, env, config.saslauthdSysconfig)));
  const backend = backendLines(config, flags, env);
  if (backend.length > 0) {
    out.write(`# ${config.mech === 'mysql' ? '-a mysql settings' : '-a pam connection tuning (pam_mysql lines in the PAM files name the database)'}\n`);
    out.write(format(backend));
  }
  return 0;
}
