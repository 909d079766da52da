/**
 * What every backend does: look a user up and say what it found. Backends
 * never judge passwords (the verifier does) and never throw for an ordinary
 * outcome; "could not look" is its own result, so that an outage is never
 * mistaken for a wrong password.
 */
import type { ErrorCode } from '../errors.js';
import type { DefaultScheme } from '../crypt/default-scheme.js';
import type { Cancellation } from '../common/cancellation.js';

export interface LookupQuery {
  /** The login after realm handling: what saslauthd -r would pass to PAM. */
  readonly user: string;
  readonly realm: string;
  readonly service: string;
  /** The client's address (the request's fifth field, without a port), when the client sends one. */
  readonly address?: string;
}

/**
 * What the lookup found. `defaultScheme` is set by backends whose
 * configuration says how unprefixed values are stored (pam_mysql's crypt=);
 * otherwise the daemon's --default-scheme applies.
 */
export type LookupResult = (
  /**
   * `candidates`: the stored values the password may match, at least one (the mailbox's own
   * password, and app passwords where the table has them). `user`: the row's own name, when
   * the backend can tell it (a collation may have matched another spelling).
   */
  | { readonly status: 'found'; readonly candidates: readonly Candidate[]; readonly user?: string }
  | { readonly status: 'unknown' }
  /** The user must not log in (empty password, expired, no such PAM service): a definite no. */
  | { readonly status: 'refused'; readonly code: ErrorCode; readonly reason: string }
  /** The configuration (or the table) is wrong for this login (an unreadable PAM file, two rows for one name): never the user's fault, so a temporary failure. */
  | { readonly status: 'misconfigured'; readonly code: ErrorCode; readonly reason: string }
  /** The backend could not answer: the client is told to retry later. */
  | { readonly status: 'unavailable'; readonly code: ErrorCode; readonly reason: string }
) & { readonly defaultScheme?: DefaultScheme };

/**
 * One stored value a login's password may match.
 *   password        the account's own password: the one re-hashing may rewrite
 *   app-password    one of the account's app passwords: never rewritten
 *   one-of-several  a row of a password_query that returned several: which is which is not known
 */
export interface Candidate {
  readonly stored: string;
  readonly role: 'password' | 'app-password' | 'one-of-several';
  /**
   * Set when a match with this value must still be refused (an expired password, a main
   * password used from an address TOTP does not except). It is verified all the same, so the
   * time does not tell, and the log can say the password was right but refused, and why.
   */
  readonly refusal?: { readonly code: ErrorCode; readonly reason: string };
}

/** The usual case: one row, one value, the account's own password. */
export function onlyPassword(stored: string): readonly Candidate[] {
  return [{ stored, role: 'password' }];
}

export interface StoredSample {
  readonly values: readonly string[];
  /** How unprefixed values among them are read, when the backend says (pam_mysql's crypt=). */
  readonly defaultScheme?: DefaultScheme;
}

/** Writes a stronger value over a weaker one after a login (re-hashing on login). */
export interface StoredValueRewriter {
  /** The scheme new values are written in, and their cost (sha-crypt rounds, bcrypt cost). */
  readonly to: string;
  readonly cost: number | undefined;
  /** Replace the row's value with `value`, only if the row still holds `old`. Throws when the write fails. */
  replace(user: string, value: string, old: string): Promise<'written' | 'row-changed'>;
}

export interface Backend {
  /** The mechanism name saslauthd would log ([mech=...]). */
  readonly mechanism: string;
  /** Ends by the backend's own timeouts; `cancellation` says when nobody waits any more (read its signal only if needed). */
  lookup(query: LookupQuery, cancellation: Cancellation): Promise<LookupResult>;
  /** Start noticing changes to what the backend reads (a passwd-file); called once the daemon serves. */
  watch(): void;
  /**
   * Some of the stored values it holds, for backends that can list them, so the
   * dummy check for unknown users costs what the table's usual value costs.
   */
  sampleStoredValues?(): Promise<StoredSample>;
  /** Set when re-hashing on login is configured. */
  readonly rewriter?: StoredValueRewriter;
  close(): Promise<void>;
}
