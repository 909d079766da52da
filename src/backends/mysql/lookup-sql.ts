/**
 * The SQL for one lookup, and its parameters. The user name is always a bound
 * parameter of a prepared statement; table, column and WHERE text come from
 * the administrator's configuration and are used as written, as pam_mysql
 * does, so that joins and expressions keep working.
 */
import type { ColumnLookup, QueryLookup } from './settings.js';

export interface LookupNames {
  /** The full login after realm handling (%u). */
  readonly user: string;
  readonly service: string;
}

export interface PreparedLookup {
  readonly sql: string;
  /** Builds the parameter list for one login. */
  readonly params: (names: LookupNames) => string[];
  /** Whether the second column of each row is the status expression. */
  readonly hasStatus: boolean;
  /**
   * Which column of a row holds the row's own user name: MySQL's collations match "ALICE",
   * "älice" and "alice " to the row "alice", and the name the row has is the one to count and
   * log under. Absent for a password_query, whose columns the administrator chose.
   */
  readonly nameColumn?: number;
}

export function prepareColumnLookup(lookup: ColumnLookup): PreparedLookup {
  const hasStatus = lookup.statusColumn !== undefined;
  const columns = hasStatus ? `${lookup.passwordColumn}, ${lookup.statusColumn}` : lookup.passwordColumn;
  const where = lookup.where === undefined || lookup.where.trim() === '' ? '' : ` AND (${lookup.where})`;
  return {
    sql: `SELECT ${columns}, ${lookup.userColumn} FROM ${lookup.table} WHERE ${lookup.userColumn} = ?${where}`,
    params: (names) => [names.user],
    hasStatus,
    nameColumn: hasStatus ? 2 : 1,
  };
}

/**
 * The column lookup for several logins at once (lookup-batch.ts): the same
 * columns, table and WHERE, the names in an IN list, and one column per name
 * saying whether the row is that name's. The server decides that with the same
 * comparison as the one-name statement (`column = ?`), so a row reached
 * through a collation ("ALICE" for "alice") goes to exactly the logins the
 * one-name statement would have given it to. Parameters: the names, then the
 * same names again.
 */
export function batchColumnSql(lookup: ColumnLookup, count: number): string {
  const columns = lookup.statusColumn === undefined ? lookup.passwordColumn : `${lookup.passwordColumn}, ${lookup.statusColumn}`;
  const where = lookup.where === undefined || lookup.where.trim() === '' ? '' : ` AND (${lookup.where})`;
  const marks = Array.from({ length: count }, () => '?').join(', ');
  const isName = Array.from({ length: count }, () => `${lookup.userColumn} = ?`).join(', ');
  return `SELECT ${columns}, ${lookup.userColumn}, ${isName} FROM ${lookup.table} WHERE ${lookup.userColumn} IN (${marks})${where}`;
}

/** How many stored values the dummy check's sample reads (crypt/dummy-choice.ts). */
export const SAMPLE_ROWS = 1000;

/** The SQL that reads a sample of the table's stored values: the same table and WHERE as the lookup, any user. */
export function sampleColumnSql(lookup: ColumnLookup): string {
  const where = lookup.where === undefined || lookup.where.trim() === '' ? '' : ` WHERE (${lookup.where})`;
  return `SELECT ${lookup.passwordColumn} FROM ${lookup.table}${where} LIMIT ${SAMPLE_ROWS}`;
}

type Placeholder = 'u' | 'n' | 'd' | 's';

const VALUES: Record<Placeholder, (names: LookupNames) => string> = {
  u: (names) => names.user,
  n: (names) => (names.user.includes('@') ? names.user.slice(0, names.user.lastIndexOf('@')) : names.user),
  d: (names) => (names.user.includes('@') ? names.user.slice(names.user.lastIndexOf('@') + 1) : ''),
  s: (names) => names.service,
};

/**
 * Dovecot-style placeholders become "?" in order. A placeholder written inside
 * quotes ('%u', as Dovecot queries usually are) takes its quotes with it.
 * "%%" is a literal "%". Any other "%x" is a configuration error.
 */
export function prepareQueryLookup(lookup: QueryLookup): PreparedLookup {
  const text = lookup.passwordQuery;
  const order: Placeholder[] = [];
  let sql = '';
  /** The quote character of the string literal the scan is inside, if any. */
  let quote: string | undefined;
  for (let i = 0; i < text.length; ) {
    const char = text[i]!;
    if (char !== '%') {
      if (quote === undefined && (char === "'" || char === '"')) quote = char;
      else if (char === quote && text[i + 1] === quote) {
        // A doubled quote inside a literal is one quote character.
        sql += char;
        i += 1;
      } else if (char === quote) quote = undefined;
      else if (char === '\\' && quote !== undefined) {
        sql += char + (text[i + 1] ?? '');
        i += 2;
        continue;
      }
      sql += char;
      i += 1;
      continue;
    }
    const letter = text[i + 1];
    if (letter === '%') {
      sql += '%';
      i += 2;
      continue;
    }
    if (letter === undefined || !(letter in VALUES)) {
      throw new Error(`password_query: unknown placeholder %${letter ?? ''} (use %u, %n, %d, %s, or %% for a literal %)`);
    }
    order.push(letter as Placeholder);
    const before = sql.at(-1);
    if (quote !== undefined && before === quote && text[i + 2] === quote) {
      // '%u': the whole literal is the value.
      sql = `${sql.slice(0, -1)}?`;
      quote = undefined;
      i += 3;
    } else if (quote !== undefined) {
      // Inside a longer literal ('%n@%d') a "?" is just a character: every login would fail.
      throw new Error(`password_query: %${letter} inside a longer quoted string is not replaced by a value; quote each placeholder on its own, e.g. CONCAT('%n', '@', '%d'), or use %u`);
    } else {
      sql += '?';
      i += 2;
    }
  }
  if (!/^\s*select\b/i.test(sql)) throw new Error('password_query: must be a SELECT statement');
  return { sql, params: (names) => order.map((letter) => VALUES[letter](names)), hasStatus: false };
}
