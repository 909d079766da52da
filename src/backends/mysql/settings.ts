/**
 * What the MySQL backend needs, however it was configured (pam_mysql options
 * from /etc/pam.d, or the native config file and environment).
 */
import { isIP } from 'node:net';
import type { DefaultScheme } from '../../crypt/default-scheme.js';

export type HostAddress = { readonly host: string; readonly port: number } | { readonly socketPath: string };

export interface TlsSettings {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  /** Check that the server's certificate names the host we connected to. */
  readonly verifyIdentity: boolean;
}

export interface ConnectionSettings {
  /** Tried in order; a host that fails is skipped until retryAfterMs has passed. */
  readonly hosts: readonly HostAddress[];
  readonly database: string;
  readonly user: string;
  readonly password: string;
  readonly tls?: TlsSettings;
  readonly connectTimeoutMs: number;
  readonly queryTimeoutMs: number;
  /** Connections per host at most. */
  readonly poolSize: number;
  readonly retryAfterMs: number;
}

/** pam_mysql's way: a table, two columns and an optional raw WHERE fragment. */
export interface ColumnLookup {
  readonly kind: 'columns';
  readonly table: string;
  readonly userColumn: string;
  readonly passwordColumn: string;
  /** Raw SQL appended as AND (...), e.g. PostfixAdmin's "active=1". Configuration, never user input. */
  readonly where?: string;
  /** pam_mysql's statcolumn: an SQL expression; bit 1 = account expired, bit 2 = password expired. */
  readonly statusColumn?: string;
}

/** Dovecot's way: a full query whose %u, %n, %d, %s become bound parameters. */
export interface QueryLookup {
  readonly kind: 'query';
  readonly passwordQuery: string;
}

/**
 * PostfixAdmin's tables and rules (postfixadmin-lookup.ts): which of its
 * columns exist is found out from the database, at start-up and on reload.
 */
export interface PostfixAdminLookup {
  readonly kind: 'postfixadmin';
  /** Services that also need mailbox.smtp_active = 1 (Postfix's smtpd_sasl_service, "smtp" unless changed). */
  readonly smtpServices: readonly string[];
}

/** Re-hashing on login: what to write, as whom, with which statement. */
export interface RehashSettings {
  /** The scheme new values are written in (crypt/rehash-target.ts says which may be). */
  readonly to: string;
  /** sha-crypt rounds or bcrypt cost of new values; the scheme's usual default when absent. */
  readonly cost?: number;
  /** The writer account: the lookup's account only reads. */
  readonly user: string;
  readonly password: string;
  /** UPDATE with three "?": the new value, the row's user name, the value the login matched. */
  readonly query: string;
}

/** A lookup the daemon runs as configured, with no schema to find out first. */
export type PlainLookupSettings = MysqlBackendSettings & { readonly lookup: ColumnLookup | QueryLookup };

export interface MysqlBackendSettings {
  readonly connection: ConnectionSettings;
  readonly lookup: ColumnLookup | QueryLookup | PostfixAdminLookup;
  /** Values one login is checked against at most (a password_query's rows, app passwords); default DEFAULT_MAX_CANDIDATES. */
  readonly maxCandidates?: number;
  /** Off unless configured (-a mysql only). */
  readonly rehash?: RehashSettings;
  /** When absent, the daemon's --default-scheme applies. */
  readonly defaultScheme?: DefaultScheme;
  /** Problems worth telling the administrator at start and on reload (a password file others can read). */
  readonly warnings?: readonly string[];
}

/**
 * Why these TLS settings cannot protect this host list, or undefined. mysql2
 * checks a certificate's name only for host names (for an IP address it
 * checks "localhost"), and it authenticates before anyone could check
 * afterwards: so checking the name of an IP-addressed host is refused
 * rather than done badly.
 */
export function tlsIdentityProblem(connection: ConnectionSettings): string | undefined {
  if (!connection.tls?.verifyIdentity) return undefined;
  const ip = connection.hosts.find((address) => 'host' in address && isIP(address.host));
  if (!ip || !('host' in ip)) return undefined;
  return `TLS name checking needs host names, not IP addresses (${ip.host}): use the name in the server's certificate, or set tls_verify_identity = no to check the certificate chain only`;
}

/** A key that is equal for equal connection settings, so services sharing a database share a pool. */
export function connectionKey(connection: ConnectionSettings): string {
  return JSON.stringify(connection);
}
