/**
 * saslauthd's own settings file on RHEL, Rocky and Alma (/etc/sysconfig/saslauthd),
 * read as saslauthd's unit reads it: systemd loads its lines (EnvironmentFile=)
 * and runs `saslauthd -m $SOCKETDIR -a $MECH $FLAGS`. Taking the settings from
 * there, instead of asking the administrator to copy them, keeps the switch from
 * saslauthd free of edits and the rollback free of drift: both daemons read the
 * one file. This daemon's own flags and variables still win over it.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.js';
import { parseEnvironmentFile } from './environment-file.js';
import { daemonOption, everyOption, MECHANISMS, type DaemonFlags, type OptionName } from './options.js';

export interface SaslauthdSysconfig {
  readonly file: string;
  /** The settings as flags of this daemon, as if the unit's command line had given them. */
  readonly flags: DaemonFlags;
  /** Where each came from, as messages name it: "MECH in FILE", "-t in FLAGS of FILE". */
  readonly origins: Readonly<Partial<Record<OptionName, string>>>;
}

/** saslauthd's mechanisms that read something else than a mailbox table: the switch cannot keep them. */
const OTHER_SASLAUTHD_MECHANISMS = new Set(['shadow', 'getpwent', 'kerberos5', 'ldap', 'rimap', 'sasldb', 'httpform', 'sia', 'dce']);

/** Reads the file (a ConfigError under `key` when it cannot be read or holds what this daemon cannot run). */
export function readSaslauthdSysconfig(key: string, file: string): SaslauthdSysconfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(key, `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseSaslauthdSysconfig(file, parseEnvironmentFile(text));
}

export function parseSaslauthdSysconfig(file: string, variables: Readonly<Record<string, string>>): SaslauthdSysconfig {
  const flags: Partial<Record<OptionName, string | boolean>> = {};
  const origins: Partial<Record<OptionName, string>> = {};
  // systemd splits an unquoted $VARIABLE at whitespace; an empty one gives no word.
  const socketDir = variables.SOCKETDIR?.trim();
  if (socketDir) {
    flags.runDir = socketDir;
    origins.runDir = `SOCKETDIR in ${file}`;
  }
  const mech = variables.MECH?.trim();
  if (mech) {
    refuseOtherMechanism(`MECH in ${file}`, mech);
    flags.mech = mech;
    origins.mech = `MECH in ${file}`;
  }
  const words = (variables.FLAGS ?? '').split(/\s+/).filter((word) => word !== '');
  // Later words win, as with saslauthd's getopt: a -m or -a in FLAGS beats SOCKETDIR and MECH.
  for (const [name, value] of Object.entries(parseFlags(`FLAGS in ${file}`, words)) as [OptionName, string | boolean][]) {
    const option = daemonOption(name);
    if (name === 'mech') refuseOtherMechanism(`${option.label} in FLAGS of ${file}`, String(value));
    flags[name] = value;
    origins[name] = `${option.label} in FLAGS of ${file}`;
  }
  return { file, flags: flags as DaemonFlags, origins };
}

function refuseOtherMechanism(key: string, mech: string): void {
  if (OTHER_SASLAUTHD_MECHANISMS.has(mech.toLowerCase())) {
    throw new ConfigError(key, `saslauthd's ${mech} mechanism is not one saslauthd-mysql serves (${MECHANISMS.join(', ')}): keep saslauthd for it, or set SASLAUTHD_MYSQL_MECH in this daemon's own settings file`);
  }
}

/** saslauthd's flags and this daemon's own options, as getopt reads them (-cr, -t300, -t 300, --cache-ttl=300). */
function parseFlags(key: string, words: readonly string[]): Partial<Record<OptionName, string | boolean>> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  const names = new Map<string, OptionName>();
  for (const option of everyOption()) {
    const long = option.longFlag.slice(2);
    names.set(long, option.name);
    options[long] = { type: option.value.kind === 'switch' ? 'boolean' : 'string', ...(option.label.length === 2 ? { short: option.label.slice(1) } : {}) };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...words], options, strict: true, allowPositionals: false }));
  } catch (error) {
    // parseArgs's messages quote only the flag, never a value.
    throw new ConfigError(key, `${(error as Error).message.split('\n')[0]}: saslauthd-mysql takes saslauthd's flags (-a -c -d -H -l -m -n -O -r -s -t -V) and its own options`);
  }
  const parsed: Partial<Record<OptionName, string | boolean>> = {};
  for (const [long, value] of Object.entries(values)) if (value !== undefined) parsed[names.get(long)!] = value;
  return parsed;
}
