import { describe, expect, it } from 'vitest';
import { prepareColumnLookup, prepareQueryLookup } from '../../src/backends/mysql/lookup-sql.js';
import { interpretRows } from '../../src/backends/mysql/rows.js';
import { ErrorCodes } from '../../src/errors.js';

const names = { user: "o'brien@example.org", service: 'smtp' };

describe('the lookup SQL', () => {
  it("builds pam_mysql's query with the user as a parameter", () => {
    const prepared = prepareColumnLookup({ kind: 'columns', table: 'mailbox', userColumn: 'username', passwordColumn: 'password', where: 'active=1' });
    // The row's own name comes back too: a collation may have matched another spelling.
    expect(prepared.sql).toBe('SELECT password, username FROM mailbox WHERE username = ? AND (active=1)');
    expect(prepared.params(names)).toEqual(["o'brien@example.org"]);
    expect(prepared.hasStatus).toBe(false);
  });

  it('selects the status expression when one is configured', () => {
    const prepared = prepareColumnLookup({ kind: 'columns', table: 'mailbox', userColumn: 'username', passwordColumn: 'password', statusColumn: 'status' });
    expect(prepared.sql).toBe('SELECT password, status, username FROM mailbox WHERE username = ?');
    expect(prepared.hasStatus).toBe(true);
  });

  it('binds Dovecot placeholders, quoted or not, in order', () => {
    const prepared = prepareQueryLookup({ kind: 'query', passwordQuery: "SELECT password FROM mailbox WHERE local_part = '%n' AND domain = \"%d\" AND %s <> '' AND LIKE_ME LIKE '100%%' AND username = %u" });
    expect(prepared.sql).toBe("SELECT password FROM mailbox WHERE local_part = ? AND domain = ? AND ? <> '' AND LIKE_ME LIKE '100%' AND username = ?");
    expect(prepared.params(names)).toEqual(["o'brien", 'example.org', 'smtp', "o'brien@example.org"]);
    expect(prepareQueryLookup({ kind: 'query', passwordQuery: 'SELECT p FROM t WHERE u = %n AND d = %d' }).params({ user: 'bare', service: '' })).toEqual(['bare', '']);
  });

  it('knows where string literals are: a placeholder inside a longer one is refused, doubled and escaped quotes are skipped', () => {
    expect(() => prepareQueryLookup({ kind: 'query', passwordQuery: "SELECT p FROM t WHERE u = '%n@%d'" })).toThrow(/%n inside a longer quoted string/);
    expect(() => prepareQueryLookup({ kind: 'query', passwordQuery: 'SELECT p FROM t WHERE u = "x%u"' })).toThrow(/%u inside a longer quoted string/);
    const concat = prepareQueryLookup({ kind: 'query', passwordQuery: "SELECT p FROM t WHERE u = CONCAT('%n', '@', '%d')" });
    expect(concat.sql).toBe("SELECT p FROM t WHERE u = CONCAT(?, '@', ?)");
    expect(concat.params({ user: 'a@b.org', service: '' })).toEqual(['a', 'b.org']);
    expect(prepareQueryLookup({ kind: 'query', passwordQuery: "SELECT p FROM t WHERE x <> 'it''s' AND u = '%u'" }).sql).toBe("SELECT p FROM t WHERE x <> 'it''s' AND u = ?");
    expect(prepareQueryLookup({ kind: 'query', passwordQuery: "SELECT p FROM t WHERE x <> 'a\\'b' AND u = %u" }).sql).toBe("SELECT p FROM t WHERE x <> 'a\\'b' AND u = ?");
  });

  it('refuses unknown placeholders and non-SELECT statements', () => {
    expect(() => prepareQueryLookup({ kind: 'query', passwordQuery: 'SELECT p FROM t WHERE u = %x' })).toThrow(/unknown placeholder %x/);
    expect(() => prepareQueryLookup({ kind: 'query', passwordQuery: 'DELETE FROM t WHERE u = %u' })).toThrow(/SELECT/);
  });
});

describe('what the rows mean', () => {
  it.each([
    ['no row', [], { status: 'unknown' }],
    ['one row', [['$1$x$y']], { status: 'found', candidates: [{ stored: '$1$x$y', role: 'password' }] }],
    ['a binary column', [[Buffer.from('{PLAIN}a')]], { status: 'found', candidates: [{ stored: '{PLAIN}a', role: 'password' }] }],
    ['two rows', [['a'], ['b']], { status: 'misconfigured', code: ErrorCodes.AMBIGUOUS_USER }],
    ['three rows (pam_mysql 0.8.2 took the first)', [['a'], ['b'], ['c']], { status: 'misconfigured', code: ErrorCodes.AMBIGUOUS_USER }],
    ['a NULL password', [[null]], { status: 'refused', code: ErrorCodes.EMPTY_STORED_PASSWORD }],
    ['an empty password', [['']], { status: 'refused', code: ErrorCodes.EMPTY_STORED_PASSWORD }],
  ])('%s', (_name, rows, expected) => {
    expect(interpretRows(rows as unknown[][], false)).toMatchObject(expected);
  });

  it("returns the row's own user name when the lookup selects it", () => {
    expect(interpretRows([['$1$x$y', 'alice@example.org']], false, 1)).toEqual({ status: 'found', candidates: [{ stored: '$1$x$y', role: 'password' }], user: 'alice@example.org' });
    expect(interpretRows([['$1$x$y', 0, Buffer.from('alice@example.org')]], true, 2)).toEqual({ status: 'found', candidates: [{ stored: '$1$x$y', role: 'password' }], user: 'alice@example.org' });
    expect(interpretRows([['$1$x$y']], false)).toEqual({ status: 'found', candidates: [{ stored: '$1$x$y', role: 'password' }] });
  });

  it('refuses expired accounts and passwords by the status bits', () => {
    expect(interpretRows([['x', 0]], true)).toMatchObject({ status: 'found' });
    expect(interpretRows([['x', 1]], true)).toMatchObject({ status: 'refused', code: ErrorCodes.ACCOUNT_EXPIRED });
    expect(interpretRows([['x', '2']], true)).toMatchObject({ status: 'refused', code: ErrorCodes.PASSWORD_EXPIRED });
  });
});
