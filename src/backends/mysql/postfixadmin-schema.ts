/**
 * Which of PostfixAdmin's tables and columns this database has. PostfixAdmin
 * 3.3 (Debian 12's) has the base tables and password expiry; 4.x adds
 * mailbox.smtp_active, TOTP and app passwords. Two optional columns are
 * ours, for scopes PostfixAdmin has none for (docs/postfixadmin.md):
 * mailbox_app_password.allowed_services and mailbox.allowed_networks. Each rule is on exactly when
 * its columns are there, found out from information_schema at start-up and on
 * reload, and one log line says which are.
 */
import type { MysqlHosts } from './hosts.js';

export interface PostfixAdminSchema {
  /** Required columns that are not there (the reader account may also just not see them). */
  readonly missing: readonly string[];
  /** mailbox.smtp_active: SMTP logins need it set. */
  readonly smtpActive: boolean;
  /** mailbox.password_expiry and domain.password_expiry. */
  readonly passwordExpiry: boolean;
  /** mailbox_app_password(username, password_hash). */
  readonly appPasswords: boolean;
  /** mailbox.totp_secret: TOTP mailboxes' main passwords only from exception addresses. */
  readonly totp: boolean;
  /** totp_exception_address(ip, username). */
  readonly totpExceptions: boolean;
  /** mailbox_app_password.allowed_services (ours, optional): an app password works only for the services it lists. */
  readonly appPasswordServices: boolean;
  /** mailbox.allowed_networks (ours, optional): the mailbox logs in only from the networks it lists. */
  readonly allowedNetworks: boolean;
}

const REQUIRED = ['mailbox.username', 'mailbox.password', 'mailbox.active', 'mailbox.domain', 'domain.domain', 'domain.active'];

export const SCHEMA_SQL =
  "SELECT LOWER(TABLE_NAME), LOWER(COLUMN_NAME) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('mailbox', 'domain', 'mailbox_app_password', 'totp_exception_address')";

export function schemaFrom(columns: ReadonlySet<string>): PostfixAdminSchema {
  const has = (...names: string[]) => names.every((name) => columns.has(name));
  return {
    missing: REQUIRED.filter((name) => !columns.has(name)),
    smtpActive: has('mailbox.smtp_active'),
    passwordExpiry: has('mailbox.password_expiry', 'domain.password_expiry'),
    appPasswords: has('mailbox_app_password.username', 'mailbox_app_password.password_hash'),
    totp: has('mailbox.totp_secret'),
    totpExceptions: has('totp_exception_address.ip', 'totp_exception_address.username'),
    appPasswordServices: has('mailbox_app_password.username', 'mailbox_app_password.password_hash', 'mailbox_app_password.allowed_services'),
    allowedNetworks: has('mailbox.allowed_networks'),
  };
}

/** Throws QueryFailure when the database cannot be asked. */
export async function detectSchema(hosts: MysqlHosts): Promise<PostfixAdminSchema> {
  const rows = await hosts.query(SCHEMA_SQL, []);
  return schemaFrom(new Set(rows.map((row) => `${String(row[0])}.${String(row[1])}`)));
}

/** The start-up line: which rules are on and, for each one off, the column it lacks. */
export function describeRules(schema: PostfixAdminSchema, smtpServices: readonly string[]): string {
  const on = ['mailbox.active', 'domain.active'];
  const off: string[] = [];
  (schema.smtpActive ? on : off).push(schema.smtpActive ? `smtp_active (for ${smtpServices.join(', ') || 'no service'})` : 'smtp_active (no mailbox.smtp_active)');
  (schema.passwordExpiry ? on : off).push(schema.passwordExpiry ? 'password expiry' : 'password expiry (no mailbox.password_expiry or domain.password_expiry)');
  (schema.appPasswords ? on : off).push(schema.appPasswords ? 'app passwords' : 'app passwords (no mailbox_app_password table)');
  if (schema.appPasswordServices) on.push('app passwords limited to services (mailbox_app_password.allowed_services)');
  if (schema.allowedNetworks) on.push('allowed networks (mailbox.allowed_networks)');
  if (schema.totp) on.push(schema.totpExceptions ? 'TOTP with exception addresses' : 'TOTP (no totp_exception_address table: main passwords of TOTP mailboxes never work)');
  else off.push('TOTP (no mailbox.totp_secret)');
  return `postfixadmin preset: rules on: ${on.join(', ')}${off.length > 0 ? `; off: ${off.join(', ')}` : ''}`;
}
