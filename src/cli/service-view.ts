/**
 * For "check" and "config" run as root with no daemon flags, on a host where
 * the unit is installed: the settings the service really runs with (the
 * unit's Environment= and its EnvironmentFile= (/etc/default/saslauthd-mysql, or /etc/sysconfig/saslauthd-mysql),
 * read as systemd reads them), and the service's account, so that file
 * permissions are judged for it.
 *
 * For "check" run as root: the socket as the installed service will meet it,
 * not as root does (root may write anywhere). Three questions, each answered
 * from the host itself: can the service's user create its socket in the
 * directory (after the unit's ExecStartPre has prepared it), does the unit's
 * sandbox let it write there (ProtectSystem=strict makes everything else
 * read-only), and can Postfix reach the socket (its user in the socket's
 * group)? A question the host cannot answer (no such account, no systemd
 * running) is skipped, never guessed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DaemonConfig } from '../config/daemon-config.js';
import { parseEnvironmentFile } from '../config/environment-file.js';
import { planSocketDirectory } from '../protocol/socket-directory.js';

/** The account and unit the Debian package and install-units make. */
export const SERVICE_USER = 'saslauthd-mysql';
export const SERVICE_UNIT = 'saslauthd-mysql.service';
const MTA_USER = 'postfix';

type Finding = { readonly ok: boolean; readonly line: string };

function quiet(command: string, args: string[]): string | undefined {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function userId(name: string): number | undefined {
  return account(name)?.uid;
}

/** A user's uid and primary gid, or undefined when there is no such user. */
function account(name: string): { readonly name: string; readonly uid: number; readonly gid: number } | undefined {
  const fields = quiet('getent', ['passwd', name])?.split(':');
  const uid = Number(fields?.[2]);
  const gid = Number(fields?.[3]);
  return fields && Number.isInteger(uid) && Number.isInteger(gid) ? { name, uid, gid } : undefined;
}

/** What systemd holds for the installed unit, or undefined when no systemd runs or the unit is not installed. */
function shownUnit(keys: readonly string[]): Map<string, string> | undefined {
  if (!existsSync('/run/systemd/system')) return undefined;
  const shown = quiet('systemctl', ['show', '-p', 'LoadState', ...keys.flatMap((key) => ['-p', key]), SERVICE_UNIT]);
  if (!shown || !/^LoadState=loaded$/m.test(shown)) return undefined;
  return new Map(shown.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const));
}

export interface ServiceSettings {
  /** The environment the service starts with: the unit's Environment=, then its EnvironmentFile= lines. */
  readonly env: Record<string, string>;
  /** Arguments an edited ExecStart= adds to the command: they would beat the settings file, and check does not read them. */
  readonly commandLineFlags: readonly string[];
  /** The unit's EnvironmentFile= (/etc/default/saslauthd-mysql on Debian, /etc/sysconfig/saslauthd-mysql from the RPM). */
  readonly settingsFile: string | undefined;
  /** Where they came from, for the first line of the report. */
  readonly from: string;
  readonly user: { readonly name: string; readonly uid: number; readonly gid: number } | undefined;
}

/** The installed service's settings, when run as root on a host whose systemd has the unit loaded. */
export function installedServiceSettings(): ServiceSettings | undefined {
  if (process.geteuid?.() !== 0) return undefined;
  const unit = shownUnit(['Environment', 'EnvironmentFiles', 'User', 'ExecStart']);
  if (!unit) return undefined;
  const env: Record<string, string> = {};
  for (const pair of (unit.get('Environment') ?? '').split(/\s+/).filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at > 0) env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const files = [...(unit.get('EnvironmentFiles') ?? '').matchAll(/(\S+) \(ignore_errors=(yes|no)\)/g)].map((m) => m[1]!);
  for (const file of files) {
    if (existsSync(file)) Object.assign(env, parseEnvironmentFile(readFileSync(file, 'utf8')));
  }
  const userName = unit.get('User') || SERVICE_USER;
  // ExecStart={ path=/usr/sbin/saslauthd-mysql ; argv[]=/usr/sbin/saslauthd-mysql -m /x ; ... }
  const argv = /argv\[\]=(.*?) ;/.exec(unit.get('ExecStart') ?? '')?.[1]?.split(/\s+/).filter(Boolean) ?? [];
  return { env, commandLineFlags: argv.slice(1), settingsFile: files[0], from: `${SERVICE_UNIT}'s settings${files.length ? ` and ${files.join(', ')}` : ''}, for its user ${userName}`, user: account(userName) };
}

/** The paths the running systemd lets the unit write: its RuntimeDirectory= under /run and its ReadWritePaths=. */
function unitWritablePaths(): string[] | undefined {
  const unit = shownUnit(['RuntimeDirectory', 'ReadWritePaths']);
  if (!unit) return undefined;
  const value = (key: string) => (unit.get(key) ?? '').split(/\s+/).filter(Boolean);
  return [...value('RuntimeDirectory').map((name) => path.join('/run', name)), ...value('ReadWritePaths').map((entry) => entry.replace(/^[-+]+/, ''))];
}

const within = (dir: string, top: string) => dir === top || dir.startsWith(`${top}/`);

/** What the service would meet at each socket directory, as findings for check. */
export function serviceSocketFindings(config: DaemonConfig, serviceUser: string = SERVICE_USER): Finding[] {
  const uid = userId(serviceUser);
  if (uid === undefined) return [];
  const findings: Finding[] = [];
  const sockets = [config.socketPath, ...(config.dovecot?.socketPath ? [config.dovecot.socketPath] : [])];
  const writable = unitWritablePaths();
  for (const socket of sockets) {
    const dir = path.dirname(socket);
    const plan = planSocketDirectory(dir, { uid });
    if (plan.action === 'left') findings.push({ ok: false, line: `socket ${socket}: ${serviceUser} could not create it: ${plan.why}` });
    else if (plan.action === 'taken over') findings.push({ ok: true, line: `socket ${socket}: ${dir} belongs to root (saslauthd's); the unit's ExecStartPre gives it to ${serviceUser} at start, group and mode kept` });
    else if (plan.action === 'created') findings.push({ ok: true, line: `socket ${socket}: ${dir} does not exist; the unit's ExecStartPre creates it for ${serviceUser} at start` });
    else findings.push({ ok: true, line: `socket ${socket}: ${dir} belongs to ${serviceUser}` });
    if (writable && !writable.some((top) => within(dir, top))) {
      findings.push({ ok: false, line: `socket ${socket}: the unit's sandbox lets ${serviceUser} write only ${writable.join(', ')}: add ReadWritePaths=${dir} (systemctl edit ${SERVICE_UNIT})` });
    }
  }
  const socketGroupName = config.socket.gid === undefined ? undefined : quiet('getent', ['group', String(config.socket.gid)])?.split(':')[0];
  if (socketGroupName && userId(MTA_USER) !== undefined) {
    const groups = quiet('id', ['-Gn', MTA_USER])?.split(/\s+/) ?? [];
    if (!groups.includes(socketGroupName)) findings.push({ ok: false, line: `Postfix cannot reach the socket: user ${MTA_USER} is not in its group ${socketGroupName} (adduser ${MTA_USER} ${socketGroupName}, then systemctl restart postfix)` });
    else findings.push({ ok: true, line: `Postfix reaches the socket: user ${MTA_USER} is in its group ${socketGroupName}` });
  }
  return findings;
}
