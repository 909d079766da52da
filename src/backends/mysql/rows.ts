/**
 * What a lookup's rows mean. pam_mysql's rules, with its bug fixed: exactly
 * one row with a non-NULL, non-empty password, or the login fails.
 */
import type { LookupResult } from '../backend.js';
import { ErrorCodes } from '../../errors.js';

/** pam_mysql's status bits (statcolumn). */
const STATUS_EXPIRED = 0x1;
const STATUS_PASSWORD_EXPIRED = 0x2;

function text(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return String(value);
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
  return user ? { status: 'found', storedHash: stored, user } : { status: 'found', storedHash: stored };
}
