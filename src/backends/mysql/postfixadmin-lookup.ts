/**
 * preset = postfixadmin: one statement per login that reads the mailbox, its
 * domain and, where the tables have them, its app passwords and whether the
 * client's address is a TOTP exception; then PostfixAdmin's rules, in order:
 *
 *   mailbox.active = 1, and its domain's active = 1      else ERR_MAILBOX_INACTIVE / ERR_DOMAIN_INACTIVE
 *   for smtp_services, mailbox.smtp_active = 1           else ERR_SMTP_DISABLED
 *   main password expired (domain.password_expiry > 0
 *     and mailbox.password_expiry < NOW())               a match is refused: ERR_PASSWORD_EXPIRED
 *   mailbox.allowed_networks set (ours), the client's
 *     address in none of them (or none known)            else ERR_NETWORK_NOT_ALLOWED
 *   TOTP on, address not an exception (or none known)    a match is refused: ERR_TOTP_REQUIRED
 *   app passwords                                        valid alongside, from anywhere
 *   an app password's allowed_services set (ours), the
 *     service not among them                             a match is refused: ERR_SERVICE_NOT_ALLOWED
 *
 * The statement is built from the columns found (postfixadmin-schema.ts): a
 * rule whose columns are missing is off.
 */
import { isIP } from 'node:net';
import { inNetworks, parseNetworkEntry } from '../../common/networks.js';
import type { Logger } from 'pino';
import type { Candidate, LookupQuery, LookupResult } from '../backend.js';
import { ErrorCodes, type ErrorCode } from '../../errors.js';
import type { MysqlHosts } from './hosts.js';
import { describeRules, detectSchema, type PostfixAdminSchema } from './postfixadmin-schema.js';
import { text, tooManyCandidates } from './rows.js';
import { LookupFailures, unavailable } from './query-failure.js';
import type { PostfixAdminLookup } from './settings.js';

/** A name as bytes, for comparisons no collation may bend: "müller" and "muller", "alice" and "alice ", are different mailboxes. */
const exactName = (column: string): string => `BINARY CONVERT(${column} USING utf8mb4)`;

/**
 * The main row first, then one row per app password. Text columns are
 * converted to one character set: PostfixAdmin's mailbox table is latin1 on
 * many sites and its newer tables utf8mb4, and a UNION of the two would fail.
 *
 * Only the mailbox row is found through the column's collation (as the
 * client's spelling). Everything else belongs to that row by its own name,
 * byte for byte: an app password (which comes back with its owner's name, so
 * interpretPresetRows can check again) and a TOTP exception.
 */
export function presetSql(schema: PostfixAdminSchema): string {
  const smtp = schema.smtpActive ? 'm.smtp_active' : '1';
  const expired = schema.passwordExpiry ? '(d.password_expiry > 0 AND m.password_expiry < NOW())' : '0';
  const totp = schema.totp ? "(m.totp_secret IS NOT NULL AND m.totp_secret <> '')" : '0';
  // An exception is for the mailbox, for its whole domain, or (username NULL) for every mailbox.
  const excepted =
    schema.totp && schema.totpExceptions
      ? `EXISTS (SELECT 1 FROM totp_exception_address t WHERE t.ip IN (?, ?) AND (${exactName('t.username')} = ${exactName('m.username')} OR ${exactName('t.username')} = ${exactName('m.domain')} OR t.username IS NULL))`
      : '(? IS NULL AND ? IS NULL)';
  const networks = schema.allowedNetworks ? 'CONVERT(m.allowed_networks USING utf8mb4)' : 'NULL';
  const services = schema.appPasswordServices ? 'CONVERT(a.allowed_services USING utf8mb4)' : 'NULL';
  const main =
    `SELECT 'password', CONVERT(m.password USING utf8mb4), CONVERT(m.username USING utf8mb4), m.active, d.active, ${smtp}, ${expired}, ${totp}, ${excepted}, ${networks}` +
    ' FROM mailbox m LEFT JOIN domain d ON d.domain = m.domain WHERE m.username = ?';
  if (!schema.appPasswords) return main;
  return (
    `${main} UNION ALL SELECT 'app-password', CONVERT(a.password_hash USING utf8mb4), CONVERT(a.username USING utf8mb4), NULL, NULL, NULL, NULL, NULL, NULL, ${services}` +
    ` FROM mailbox m JOIN mailbox_app_password a ON ${exactName('a.username')} = ${exactName('m.username')} WHERE m.username = ?`
  );
}

/** The address as the client sent it, and its IPv4 form when it is IPv4 written as IPv6 (::ffff:192.0.2.1). */
export function addressForms(address: string | undefined): [string, string] {
  if (address === undefined || isIP(address) === 0) return ['', ''];
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return [address, mapped ? mapped[1]! : address];
}

export function presetParams(schema: PostfixAdminSchema, query: LookupQuery): string[] {
  const [address, v4] = addressForms(query.address);
  // The exception check takes two parameters even when off ("? IS NULL"), so the order never changes.
  const excepted = schema.totp && schema.totpExceptions ? [address, v4] : ['', ''];
  return schema.appPasswords ? [...excepted, query.user, query.user] : [...excepted, query.user];
}

export interface PresetContext {
  readonly service: string;
  readonly address: string | undefined;
  readonly smtpServices: readonly string[];
  readonly maxCandidates: number;
}

const isOn = (value: unknown): boolean => Number(text(value)) === 1;
const refused = (code: ErrorCode, reason: string): LookupResult => ({ status: 'refused', code, reason });

export function interpretPresetRows(rows: readonly unknown[][], context: PresetContext): LookupResult {
  const mains = rows.filter((row) => row[0] === 'password');
  if (mains.length === 0) return { status: 'unknown' };
  if (mains.length > 1) return { status: 'misconfigured', code: ErrorCodes.AMBIGUOUS_USER, reason: `${mains.length} mailbox rows matched; mailbox.username must be unique` };
  const [, password, user, active, domainActive, smtpActive, expired, totp, excepted, networks] = mains[0]!;
  if (!isOn(active)) return refused(ErrorCodes.MAILBOX_INACTIVE, 'mailbox inactive (mailbox.active = 0)');
  if (domainActive === null) return refused(ErrorCodes.DOMAIN_INACTIVE, "the mailbox's domain has no row in the domain table");
  if (!isOn(domainActive)) return refused(ErrorCodes.DOMAIN_INACTIVE, 'domain inactive (domain.active = 0)');
  if (context.smtpServices.includes(context.service.toLowerCase()) && !isOn(smtpActive)) {
    return refused(ErrorCodes.SMTP_DISABLED, `mailbox may not send (mailbox.smtp_active = 0, service ${context.service})`);
  }
  const outside = outsideNetworks(text(networks), context.address);
  if (outside) return outside;
  const candidates: Candidate[] = [];
  const main = text(password);
  if (main !== null && main !== '') candidates.push({ stored: main, role: 'password', ...mainRefusal(isOn(expired), isOn(totp), isOn(excepted), context.address) });
  const name = text(user);
  for (const row of rows) {
    // Only the found mailbox's own app passwords, by its exact name (the statement asks so already; this holds if it ever did not).
    if (row[0] !== 'app-password' || name === null || text(row[2]) !== name) continue;
    const value = text(row[1]);
    if (value !== null && value !== '') candidates.push({ stored: value, role: 'app-password', ...serviceRefusal(text(row[9]), context.service) });
  }
  if (candidates.length === 0) return refused(ErrorCodes.EMPTY_STORED_PASSWORD, 'the stored password is empty and the mailbox has no app passwords');
  if (candidates.length > context.maxCandidates) return tooManyCandidates(candidates.length, context.maxCandidates);
  return name ? { status: 'found', candidates, user: name } : { status: 'found', candidates };
}

/** mailbox.allowed_networks: empty or NULL is anywhere; otherwise the client's address must be in one of them. */
function outsideNetworks(list: string | null, address: string | undefined): LookupResult | undefined {
  const entries = listOf(list);
  if (entries.length === 0) return undefined;
  const bad = entries.find((entry) => parseNetworkEntry(entry) === undefined);
  // The row's fault, never the user's: a temporary failure the log explains.
  if (bad !== undefined) return { status: 'misconfigured', code: ErrorCodes.MALFORMED_STORED_VALUE, reason: `mailbox.allowed_networks holds ${JSON.stringify(bad.slice(0, 64))}, which is not an IP address or network` };
  if (address === undefined) return refused(ErrorCodes.NETWORK_NOT_ALLOWED, 'the mailbox logs in only from mailbox.allowed_networks, and the client sent no address');
  if (isIP(address) === 0 || !inNetworks(entries)(address)) return refused(ErrorCodes.NETWORK_NOT_ALLOWED, `${address} is not in mailbox.allowed_networks`);
  return undefined;
}

/** mailbox_app_password.allowed_services: empty or NULL is every service; otherwise a match for another service is refused. */
function serviceRefusal(list: string | null, service: string): Pick<Candidate, 'refusal'> {
  const services = listOf(list).map((entry) => entry.toLowerCase());
  if (services.length === 0 || services.includes(service.toLowerCase())) return {};
  return { refusal: { code: ErrorCodes.SERVICE_NOT_ALLOWED, reason: `this app password is for ${services.join(', ')} only, not ${service}` } };
}

/** A list column: entries separated by commas or white space. */
function listOf(value: string | null): string[] {
  return value === null ? [] : value.split(/[\s,]+/).filter((entry) => entry !== '');
}

function mainRefusal(expired: boolean, totp: boolean, excepted: boolean, address: string | undefined): Pick<Candidate, 'refusal'> {
  if (expired) return { refusal: { code: ErrorCodes.PASSWORD_EXPIRED, reason: 'password expired (mailbox.password_expiry is past; the domain sets password_expiry)' } };
  if (totp && !excepted) {
    const where = address === undefined ? 'the client sent no address' : `${address} is not in totp_exception_address`;
    return { refusal: { code: ErrorCodes.TOTP_REQUIRED, reason: `TOTP is on for this mailbox: its main password works only from an exception address, and ${where}; app passwords work from anywhere` } };
  }
  return {};
}

/** The preset's lookup: the schema found once per configuration, then one statement per login. */
export class PostfixAdminLookupRunner {
  readonly #hosts: MysqlHosts;
  readonly #settings: PostfixAdminLookup;
  readonly #maxCandidates: number;
  readonly #log: Logger;
  #schema: Promise<{ readonly schema: PostfixAdminSchema; readonly sql: string }> | undefined;
  /** The statement has answered: an error comparing a name is that name's (query-failure.ts). */
  #answeredBefore = false;
  readonly #failures = new LookupFailures();

  constructor(settings: PostfixAdminLookup, maxCandidates: number, hosts: MysqlHosts, log: Logger) {
    this.#hosts = hosts;
    this.#settings = settings;
    this.#maxCandidates = maxCandidates;
    this.#log = log;
  }

  /** Find the schema now, so its line is logged at start-up and on reload rather than at the first login. */
  start(): void {
    this.#detect().catch(() => undefined);
  }

  #detect(): Promise<{ readonly schema: PostfixAdminSchema; readonly sql: string }> {
    this.#schema ??= detectSchema(this.#hosts).then(
      (schema) => {
        if (schema.missing.length > 0) this.#log.error({ event: 'preset', missing: schema.missing }, `postfixadmin preset: ${missingMessage(schema)}`);
        else this.#log.info({ event: 'preset' }, describeRules(schema, this.#settings.smtpServices));
        return { schema, sql: presetSql(schema) };
      },
      (error: unknown) => {
        // Asked again at the next login: the database may be back by then.
        this.#schema = undefined;
        this.#log.warn({ reason: (error as Error).message }, 'postfixadmin preset: could not read the schema; trying again at the next login');
        throw error;
      },
    );
    return this.#schema;
  }

  async lookup(query: LookupQuery): Promise<LookupResult> {
    let found: { readonly schema: PostfixAdminSchema; readonly sql: string };
    try {
      found = await this.#detect();
    } catch (error) {
      return unavailable(error);
    }
    const { schema, sql } = found;
    const known = this.#failures.known(query.user);
    if (known) return known;
    if (schema.missing.length > 0) return { status: 'misconfigured', code: ErrorCodes.PRESET_SCHEMA, reason: missingMessage(schema) };
    let rows: unknown[][];
    try {
      rows = await this.#hosts.query(sql, presetParams(schema, query));
      this.#answeredBefore = true;
    } catch (error) {
      return this.#failures.of(error, query.user, this.#answeredBefore);
    }
    return interpretPresetRows(rows, { service: query.service, address: query.address, smtpServices: this.#settings.smtpServices, maxCandidates: this.#maxCandidates });
  }
}

function missingMessage(schema: PostfixAdminSchema): string {
  return `PostfixAdmin's tables lack ${schema.missing.join(', ')} (or the reader account may not see them): check the database name and the grants, then reload`;
}
