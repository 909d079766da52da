/**
 * login + realm -> the name the backend looks up, the way saslauthd -r does it,
 * plus what administrators ask for around it.
 */

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

/** The lookup key of a login and realm already decoded (realm/text.ts), as saslauthd -r makes it. */
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

/**
 * One key for the spellings of a name a common collation (utf8mb4_general_ci and
 * its kin) treats alike: compatibility forms and accents folded, case folded,
 * outer spaces dropped. Only for names with no row: a found row's own name is
 * the key for those.
 */
export function normalizedName(name: string): string {
  return name.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().trim();
}
