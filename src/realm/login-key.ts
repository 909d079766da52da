/**
 * login + realm -> the name the backend looks up, the way saslauthd -r does it,
 * plus what administrators ask for around it.
 */
import { decodeName, escapeForLog, type TextProblem } from './text.js';

export interface RealmPolicy {
  /** saslauthd -r: a non-empty realm is appended as login@realm. */
  readonly joinRealm: boolean;
  /** Realm for logins that arrive with none and carry no '@' of their own. */
  readonly defaultRealm?: string;
  /** Lower-case login and realm before the lookup (mail addresses are case-insensitive in practice). */
  readonly lowercase: boolean;
}

export interface LoginKey {
  /** What the backend looks up, and what the log calls [user=...]. */
  readonly user: string;
  /** The realm as received (or the default realm), still logged and passed along. */
  readonly realm: string;
}

export type LoginKeyResult =
  | { readonly ok: true; readonly key: LoginKey }
  | { readonly ok: false; readonly field: 'login' | 'realm'; readonly problem: TextProblem; readonly escaped: string };

export function resolveLoginKey(login: Buffer, realm: Buffer, policy: RealmPolicy): LoginKeyResult {
  const decodedLogin = decodeName(login);
  if (!decodedLogin.ok) return { ok: false, field: 'login', problem: decodedLogin.problem, escaped: escapeForLog(login) };
  const decodedRealm = decodeName(realm);
  if (!decodedRealm.ok) return { ok: false, field: 'realm', problem: decodedRealm.problem, escaped: escapeForLog(realm) };
  return { ok: true, key: joinLogin(decodedLogin.text, decodedRealm.text, policy) };
}

/** The same, for a login and realm already decoded (decodeName) by the caller. */
export function joinLogin(login: string, realm: string, policy: RealmPolicy): LoginKey {
  let name = login;
  let realmName = realm;
  // A login such as "alice@example.org" sent with an empty realm already names its domain.
  if (realmName === '' && policy.defaultRealm !== undefined && !name.includes('@')) {
    realmName = policy.defaultRealm;
  }
  if (policy.lowercase) {
    name = name.toLowerCase();
    realmName = realmName.toLowerCase();
  }
  const user = policy.joinRealm && realmName !== '' ? `${name}@${realmName}` : name;
  return { user, realm: realmName };
}
