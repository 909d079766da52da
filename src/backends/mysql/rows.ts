/**
 * What a lookup's rows mean. pam_mysql's rules, with its bug fixed: exactly
 * one row with a non-NULL, non-empty password, or the login fails. A
 * password_query may instead return several rows (a password and app
 * passwords): each is a value the password may match, up to a bound.
 */
import { onlyPassword, type Candidate, type LookupResult } from '../backend.js';
import { ErrorCodes } from '../../errors.js';

/** pam_mysql's status bits (statcolumn). */
const STATUS_EXPIRED = 0x1;
const STATUS_PASSWORD_EXPIRED = 0x2;

export function text(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return String(value);
}

/** How many values one login may be checked against, unless max_candidates says otherwise. */
export const DEFAULT_MAX_CANDIDATES = 16;

export function tooManyCandidates(count: number, max: number): LookupResult {
  return { status: 'misconfigured', code: ErrorCodes.TOO_MANY_CANDIDATES, reason: `the lookup returned ${count} stored values for one login; at most ${max} are checked (max_candidates), so the query or the table needs a look` };
}

/** A column of a password_query's result, by its name in any case (Dovecot's names: `password`, `user`). */
function columnNamed(columns: readonly string[], name: string): number | undefined {
  const at = columns.findIndex((column) => column.toLowerCase() === name);
  return at < 0 ? undefined : at;
}

/**
 * A password_query's rows: one is the usual case, with pam_mysql's rules;
 * several are values the password may match. The value is the column named
 * `password`, else the first. A column named `user` is the row's own name,
 * as in Dovecot's queries: then every row must name the same user, exactly,
 * or values of two mailboxes would open each other.
 */
export function interpretQueryRows(rows: readonly unknown[][], columns: readonly string[], maxCandidates: number): LookupResult {
  const valueAt = columnNamed(columns, 'password') ?? 0;
  const userAt = columnNamed(columns, 'user');
  if (userAt !== undefined) {
    const users = new Set(rows.map((row) => text(row[userAt])));
    if (users.size > 1) {
      return { status: 'misconfigured', code: ErrorCodes.AMBIGUOUS_USER, reason: `the password_query returned values of ${users.size} different users (its user column); a login's values must all be one mailbox's, matched on its exact name` };
    }
  }
  const picked = rows.map((row) => (userAt === undefined ? [row[valueAt]] : [row[valueAt], row[userAt]]));
  if (picked.length <= 1) return interpretRows(picked, false, userAt === undefined ? undefined : 1);
  if (picked.length > maxCandidates) return tooManyCandidates(picked.length, maxCandidates);
  const candidates: Candidate[] = [];
  for (const [value] of picked) {
    const stored = text(value);
    // A row with no value is no way in; the others still are.
    if (stored !== null && stored !== '') candidates.push({ stored, role: 'one-of-several' });
  }
  if (candidates.length === 0) return { status: 'refused', code: ErrorCodes.EMPTY_STORED_PASSWORD, reason: `all ${picked.length} stored values are NULL or empty` };
  const user = userAt === undefined ? null : text(picked[0]![1]);
  return user ? { status: 'found', candidates, user } : { status: 'found', candidates };
}

export function interpretRows(rows: readonly unknown[][], hasStatus: boolean, nameColumn?: number): LookupResult {
  if (rows.length === 0) return { status: 'unknown' };
  if (rows.length > 1) {
    // pam_mysql 0.8.2 took the first of three or more rows. Which row is meant cannot be known: refuse.
    return { status: 'misconfigured', code: ErrorCodes.AMBIGUOUS_USER, reason: `the lookup matched ${rows.length} rows; it must match exactly one (check the query or the where clause)` };
  }
  const [passwordValue, statusValue] = rows[0]!;
  const stored = text(passwordValue);
  if (stored === null) return { status: 'refused', code: ErrorCodes.EMPTY_STORED_PASSWORD, reason: 'the stored password is NULL' };
  if (stored === '') return { status: 'refused', code: ErrorCodes.EMPTY_STORED_PASSWORD, reason: 'the stored password is empty' };
  if (hasStatus) {
    const status = Number(text(statusValue) ?? 0);
    if (status & STATUS_EXPIRED) return { status: 'refused', code: ErrorCodes.ACCOUNT_EXPIRED, reason: 'account expired (status column)' };
    if (status & STATUS_PASSWORD_EXPIRED) return { status: 'refused', code: ErrorCodes.PASSWORD_EXPIRED, reason: 'password expired (status column)' };
  }
  const user = nameColumn === undefined ? null : text(rows[0]![nameColumn]);
  return user ? { status: 'found', candidates: onlyPassword(stored), user } : { status: 'found', candidates: onlyPassword(stored) };
}

/**
 * A batched column lookup's rows (lookup-sql.ts batchColumnSql), split by
 * name: after the row's own columns come `count` columns, the j-th 1 when the
 * server found the row to be the j-th name's. A row may be several names'
 * ("alice" and "ALICE" asked together).
 */
export function rowsByName(rows: readonly unknown[][], count: number, firstFlag: number): unknown[][][] {
  const byName: unknown[][][] = Array.from({ length: count }, () => []);
  for (const row of rows) {
    for (let j = 0; j < count; j += 1) {
      if (Number(text(row[firstFlag + j])) === 1) byName[j]!.push(row);
    }
  }
  return byName;
}

/** The non-empty text values of the first column: a sample of stored values for the dummy check. */
export function storedValues(rows: readonly unknown[][]): string[] {
  return rows.map((row) => text(row[0])).filter((value): value is string => value !== null && value !== '');
}
