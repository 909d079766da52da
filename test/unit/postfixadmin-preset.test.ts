/**
 * preset = postfixadmin without a database: the statement for each schema
 * the detection can find, its parameters, what its rows mean, and the
 * configuration's checks.
 */
import { describe, expect, it } from 'vitest';
import { addressForms, interpretPresetRows, presetParams, presetSql } from '../../src/backends/mysql/postfixadmin-lookup.js';
import { describeRules, schemaFrom, type PostfixAdminSchema } from '../../src/backends/mysql/postfixadmin-schema.js';
import { loadNativeSettings } from '../../src/backends/mysql/native-config.js';
import { ErrorCodes } from '../../src/errors.js';

const BASE = ['mailbox.username', 'mailbox.password', 'mailbox.active', 'mailbox.domain', 'domain.domain', 'domain.active'];
const ALL = [...BASE, 'mailbox.smtp_active', 'mailbox.password_expiry', 'domain.password_expiry', 'mailbox_app_password.username', 'mailbox_app_password.password_hash', 'mailbox.totp_secret', 'totp_exception_address.ip', 'totp_exception_address.username'];

/** Every combination of the optional features. */
function schemas(): PostfixAdminSchema[] {
  const optional = ALL.slice(BASE.length);
  return Array.from({ length: 1 << optional.length }, (_, bits) => schemaFrom(new Set([...BASE, ...optional.filter((_, i) => bits & (1 << i))])));
}

describe('the preset statement', () => {
  it('has as many placeholders as parameters, for every schema the detection can find', () => {
    for (const schema of schemas()) {
      const marks = presetSql(schema).split('?').length - 1;
      expect(presetParams(schema, { user: 'a@b', realm: '', service: 'smtp', address: '192.0.2.1' })).toHaveLength(marks);
    }
  });

  it('binds the user and the address, never writes them into the SQL', () => {
    const schema = schemaFrom(new Set(ALL));
    const sql = presetSql(schema);
    expect(sql).not.toContain('192.0.2.1');
    expect(presetParams(schema, { user: "o'brien@example.org", realm: '', service: 'smtp', address: '::ffff:192.0.2.1' })).toEqual(['::ffff:192.0.2.1', '192.0.2.1', "o'brien@example.org", "o'brien@example.org"]);
  });

  it('takes an address only when it is one', () => {
    expect(addressForms('2001:db8::1')).toEqual(['2001:db8::1', '2001:db8::1']);
    expect(addressForms('not-an-address')).toEqual(['', '']);
    expect(addressForms(undefined)).toEqual(['', '']);
  });

  it('names the missing required columns, and each rule that is off with the reason', () => {
    expect(schemaFrom(new Set(['mailbox.username'])).missing).toEqual(BASE.slice(1));
    expect(describeRules(schemaFrom(new Set(BASE)), ['smtp'])).toBe(
      'postfixadmin preset: rules on: mailbox.active, domain.active; off: smtp_active (no mailbox.smtp_active), password expiry (no mailbox.password_expiry or domain.password_expiry), app passwords (no mailbox_app_password table), TOTP (no mailbox.totp_secret)',
    );
  });
});

describe('the preset rows', () => {
  const context = { service: 'smtp', address: '192.0.2.1', smtpServices: ['smtp'], maxCandidates: 16 };
  // kind, password, username, active, domain active, smtp_active, expired, totp, excepted
  const main = (overrides: Partial<Record<'active' | 'domain' | 'smtp' | 'expired' | 'totp' | 'excepted', number | null>> = {}) => [
    'password', '$1$a$b', 'alice@example.org', overrides.active ?? 1, overrides.domain === undefined ? 1 : overrides.domain, overrides.smtp ?? 1, overrides.expired ?? 0, overrides.totp ?? 0, overrides.excepted ?? 0,
  ];
  const appRow = (value: string | null, owner = 'alice@example.org') => ['app-password', value, owner, null, null, null, null, null, null];

  it('finds the password and app passwords, skipping empty ones', () => {
    expect(interpretPresetRows([main(), appRow('{PLAIN}x'), appRow(null), appRow('')], context)).toEqual({
      status: 'found', user: 'alice@example.org', candidates: [{ stored: '$1$a$b', role: 'password' }, { stored: '{PLAIN}x', role: 'app-password' }],
    });
  });

  it("takes only the found mailbox's own app passwords, by its exact name", () => {
    const rows = [main(), appRow('{PLAIN}mine'), appRow('{PLAIN}his', 'alicé@example.org'), appRow('{PLAIN}spaced', 'alice@example.org '), appRow('{PLAIN}case', 'Alice@example.org')];
    expect(interpretPresetRows(rows, context)).toEqual({ status: 'found', user: 'alice@example.org', candidates: [{ stored: '$1$a$b', role: 'password' }, { stored: '{PLAIN}mine', role: 'app-password' }] });
  });

  it.each([
    ['no mailbox row, even with app passwords', [appRow('{PLAIN}x')], 'unknown', undefined],
    ['two mailbox rows', [main(), main()], 'misconfigured', ErrorCodes.AMBIGUOUS_USER],
    ['an inactive mailbox', [main({ active: 0 })], 'refused', ErrorCodes.MAILBOX_INACTIVE],
    ['an inactive domain', [main({ domain: 0 })], 'refused', ErrorCodes.DOMAIN_INACTIVE],
    ['no domain row', [main({ domain: null })], 'refused', ErrorCodes.DOMAIN_INACTIVE],
    ['smtp_active = 0 over smtp', [main({ smtp: 0 })], 'refused', ErrorCodes.SMTP_DISABLED],
    ['too many values', [main(), ...Array.from({ length: 16 }, (_, i) => appRow(`{PLAIN}${i}`))], 'misconfigured', ErrorCodes.TOO_MANY_CANDIDATES],
  ])('%s', (_name, rows, status, code) => {
    const result = interpretPresetRows(rows, context);
    expect(result.status).toBe(status);
    expect('code' in result ? result.code : undefined).toBe(code);
  });

  it('marks the main password refused when it expired, or under TOTP from an address that is not an exception', () => {
    const refusal = (rows: unknown[][], address?: string) => {
      const result = interpretPresetRows(rows, { ...context, address });
      return result.status === 'found' ? result.candidates.map((candidate) => candidate.refusal?.code) : result.status;
    };
    expect(refusal([main({ expired: 1 }), appRow('{PLAIN}x')])).toEqual([ErrorCodes.PASSWORD_EXPIRED, undefined]);
    expect(refusal([main({ totp: 1 }), appRow('{PLAIN}x')])).toEqual([ErrorCodes.TOTP_REQUIRED, undefined]);
    expect(refusal([main({ totp: 1, excepted: 1 })])).toEqual([undefined]);
    expect(refusal([main({ totp: 1 })], undefined)).toEqual([ErrorCodes.TOTP_REQUIRED]);
    expect(refusal([main({ smtp: 0 })].map((row) => row), '192.0.2.1')).toBe('refused');
    expect(interpretPresetRows([main({ smtp: 0 })], { ...context, service: 'imap' }).status).toBe('found');
  });
});

describe('the preset configuration', () => {
  const env = (extra: Record<string, string>) => ({ SASLAUTHD_MYSQL_DB_HOSTS: 'db', SASLAUTHD_MYSQL_DB_DATABASE: 'postfix', SASLAUTHD_MYSQL_DB_USER: 'reader', ...extra });

  it('needs only the four connection keys', () => {
    expect(loadNativeSettings(undefined, env({ SASLAUTHD_MYSQL_PRESET: 'postfixadmin' })).lookup).toEqual({ kind: 'postfixadmin', smtpServices: ['smtp'] });
    expect(loadNativeSettings(undefined, env({ SASLAUTHD_MYSQL_DB_PRESET: 'PostfixAdmin', SASLAUTHD_MYSQL_DB_SMTP_SERVICES: 'smtp, Submission' })).lookup).toEqual({ kind: 'postfixadmin', smtpServices: ['smtp', 'submission'] });
  });

  it.each([
    [{ SASLAUTHD_MYSQL_PRESET: 'vimbadmin' }, 'SASLAUTHD_MYSQL_PRESET: unknown preset "vimbadmin"; the one there is: postfixadmin'],
    [{ SASLAUTHD_MYSQL_PRESET: 'postfixadmin', SASLAUTHD_MYSQL_DB_TABLE: 'mailbox' }, 'SASLAUTHD_MYSQL_DB_TABLE: preset = postfixadmin writes the lookup itself'],
    [{ SASLAUTHD_MYSQL_DB_TABLE: 'mailbox', SASLAUTHD_MYSQL_DB_SMTP_SERVICES: 'smtp' }, 'smtp_services is read only with preset = postfixadmin'],
    [{ SASLAUTHD_MYSQL_PRESET: 'postfixadmin', SASLAUTHD_MYSQL_DB_REHASH_TO: 'ARGON2ID', SASLAUTHD_MYSQL_DB_REHASH_USER: 'w' }, 'crypt(3) cannot read it'],
    [{ SASLAUTHD_MYSQL_PRESET: 'postfixadmin', SASLAUTHD_MYSQL_DB_REHASH_TO: 'SHA512-CRYPT' }, 'rehash_to needs rehash_user'],
    [{ SASLAUTHD_MYSQL_PRESET: 'postfixadmin', SASLAUTHD_MYSQL_DB_REHASH_TO: 'SHA512-CRYPT', SASLAUTHD_MYSQL_DB_REHASH_USER: 'reader' }, 'rehash_user is the lookup account'],
    [{ SASLAUTHD_MYSQL_PRESET: 'postfixadmin', SASLAUTHD_MYSQL_DB_REHASH_USER: 'w' }, 'a rehash_ setting without rehash_to'],
    [{ SASLAUTHD_MYSQL_DB_PASSWORD_QUERY: "SELECT password FROM mailbox WHERE username = '%u'", SASLAUTHD_MYSQL_DB_REHASH_TO: 'SHA512-CRYPT', SASLAUTHD_MYSQL_DB_REHASH_USER: 'w' }, 'with a password_query, re-hashing needs rehash_query'],
    [{ SASLAUTHD_MYSQL_PRESET: 'postfixadmin', SASLAUTHD_MYSQL_DB_REHASH_TO: 'SHA512-CRYPT', SASLAUTHD_MYSQL_DB_REHASH_USER: 'w', SASLAUTHD_MYSQL_DB_REHASH_QUERY: 'UPDATE mailbox SET password = ? WHERE username = ?' }, 'rehash_query has 2 "?"'],
    [{ SASLAUTHD_MYSQL_PRESET: 'postfixadmin', SASLAUTHD_MYSQL_DB_MAX_CANDIDATES: '0' }, 'SASLAUTHD_MYSQL_DB_MAX_CANDIDATES: expected a whole number from 1 to 1000'],
  ])('refuses %o', (extra, message) => {
    expect(() => loadNativeSettings(undefined, env(extra))).toThrow(message);
  });

  it('builds the writer settings with the preset\'s UPDATE, which keeps a changed row', () => {
    const settings = loadNativeSettings(undefined, env({ SASLAUTHD_MYSQL_PRESET: 'postfixadmin', SASLAUTHD_MYSQL_DB_REHASH_TO: 'blf-crypt', SASLAUTHD_MYSQL_DB_REHASH_COST: '12', SASLAUTHD_MYSQL_DB_REHASH_USER: 'writer', SASLAUTHD_MYSQL_DB_REHASH_PASSWORD: 'pw' }));
    expect(settings.rehash).toEqual({ to: 'BLF-CRYPT', cost: 12, user: 'writer', password: 'pw', query: 'UPDATE mailbox SET password = ? WHERE username = ? AND password = ?' });
    expect(settings.maxCandidates).toBe(16);
  });
});
