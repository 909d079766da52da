/**
 * Group name -> gid and user name -> uid, through getent so that names from
 * NSS (LDAP, sssd) resolve as they do for every other daemon on the host.
 */
import { execFileSync } from 'node:child_process';
import { ConfigError } from '../errors.js';

export function resolveGroupId(key: string, group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  let entry: string;
  try {
    entry = execFileSync('getent', ['group', group], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    throw new ConfigError(key, `unknown group "${group}"`);
  }
  const gid = Number(entry.split(':')[2]);
  if (!Number.isInteger(gid)) throw new ConfigError(key, `could not read the id of group "${group}"`);
  return gid;
}

/** A user's uid, by name or number. */
export function resolveUserId(key: string, user: string): number {
  if (/^\d+$/.test(user)) return Number(user);
  let entry: string;
  try {
    entry = execFileSync('getent', ['passwd', user], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    throw new ConfigError(key, `unknown user "${user}"`);
  }
  const uid = Number(entry.split(':')[2]);
  if (!Number.isInteger(uid)) throw new ConfigError(key, `could not read the id of user "${user}"`);
  return uid;
}
