/**
 * Group name -> gid and user name -> uid, through getent so that names from
 * NSS (LDAP, sssd) resolve as they do for every other daemon on the host.
 */
import { execFileSync } from 'node:child_process';
import { ConfigError } from '../errors.js';

/** The id in the third field of a getent entry, for a name or a number. */
function getentId(database: 'group' | 'passwd', key: string, name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  const kind = database === 'group' ? 'group' : 'user';
  let entry: string;
  try {
    entry = execFileSync('getent', [database, name], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    throw new ConfigError(key, `unknown ${kind} "${name}"`);
  }
  const id = Number(entry.split(':')[2]);
  if (!Number.isInteger(id)) throw new ConfigError(key, `could not read the id of ${kind} "${name}"`);
  return id;
}

export function resolveGroupId(key: string, group: string): number {
  return getentId('group', key, group);
}

/** A user's uid, by name or number. */
export function resolveUserId(key: string, user: string): number {
  return getentId('passwd', key, user);
}
