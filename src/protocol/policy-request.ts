/**
 * Dovecot's auth policy requests, read: `POST <url>?command=allow|report`
 * with a JSON object built from `auth_policy_request_attributes` (a `/` in
 * an attribute's name nests it), plus `success` and `policy_reject` in a
 * report and `tls` in both. Everything is a string but those three.
 *
 * What the daemon uses: `login` (the requested user), `remote` (the client's
 * address), `protocol` (the service), `pwhash` (Dovecot's truncated hash of
 * user and password) and `tls`; in a report, `success`, `policy_reject` and
 * (Dovecot 2.4) `fail_type`. The rest only pairs a report with its allow:
 * Dovecot builds both from the same attributes, `session_id` included.
 */
import { isIP } from 'node:net';
import type { ClientAddress } from './request.js';

/** One of Dovecot's policy requests, read. */
export interface PolicyQuestion {
  /** Every attribute but `success` and `policy_reject`, canonically: the same for a login's allow and its report. */
  readonly pairing: string;
  /** The requested user name, as sent; absent when Dovecot had none yet. */
  readonly login?: Buffer;
  /** Dovecot's service name (%s): imap, pop3, sieve... */
  readonly service: Buffer;
  readonly client?: ClientAddress;
  /** Dovecot's truncated hash of the user name and the password, in hex. */
  readonly pwhash?: string;
  readonly secured?: boolean;
}

/** How the login Dovecot asked about ended (a report's own attributes). */
export interface PolicyReport {
  readonly success: boolean;
  /** The policy's own allow refused it. */
  readonly policyRefused: boolean;
  /** Dovecot 2.4's kind of failure: "credentials", "account", "internal" (2.3 sends none). */
  readonly failType?: string;
}

/** The answer to `allow`: status -1 refuses (msg is the reason Dovecot gives), 0 allows. */
export interface PolicyAnswer {
  readonly status: number;
  readonly msg?: string;
}

/** A request body larger than this is not Dovecot's: its attributes are a few names and short values. */
export const MAX_POLICY_BODY_BYTES = 16 * 1024;
/** Attributes nest by `/` in their names; deeper than this is not a configuration anyone writes. */
const MAX_NESTING = 8;
/** Attributes one request may carry. */
const MAX_ATTRIBUTES = 64;
/**
 * The attributes a report carries differently from its allow: not part of
 * what pairs the two. Dovecot 2.4 adds fail_type to both, empty in the allow.
 */
const REPORT_ONLY = new Set(['success', 'policy_reject', 'fail_type']);

export type PolicyCommand = 'allow' | 'report';

export type ReadPolicyRequest =
  | { readonly ok: true; readonly question: PolicyQuestion; readonly report?: PolicyReport }
  | { readonly ok: false; readonly problem: string };

/** The command from the request's URL: `?command=allow`, or `&command=` after the administrator's own parameters. */
export function commandOf(url: string | undefined): PolicyCommand | undefined {
  if (url === undefined) return undefined;
  const query = url.indexOf('?');
  if (query < 0) return undefined;
  const command = new URLSearchParams(url.slice(query + 1)).getAll('command');
  return command.length === 1 && (command[0] === 'allow' || command[0] === 'report') ? command[0] : undefined;
}

export function readPolicyBody(body: Buffer, command: PolicyCommand): ReadPolicyRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return { ok: false, problem: 'the body is not JSON' };
  }
  if (!isObject(parsed)) return { ok: false, problem: 'the body is not a JSON object' };
  const attributes = new Map<string, string | boolean>();
  const flattened = flatten(parsed, '', 0, attributes);
  if (flattened !== undefined) return { ok: false, problem: flattened };
  const success = attributes.get('success');
  const policyReject = attributes.get('policy_reject');
  if (command === 'report' && typeof success !== 'boolean') return { ok: false, problem: 'a report without "success": true or false' };
  const text = (name: string): string | undefined => {
    const value = attributes.get(name);
    return typeof value === 'string' ? value : undefined;
  };
  const login = text('login');
  const remote = text('remote');
  const pwhash = text('pwhash');
  const tls = attributes.get('tls');
  const pairing = JSON.stringify([...attributes].filter(([name]) => !REPORT_ONLY.has(name)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const question: PolicyQuestion = {
    pairing,
    service: Buffer.from(text('protocol') ?? '', 'utf8'),
    ...(login !== undefined && login !== '' ? { login: Buffer.from(login, 'utf8') } : {}),
    // Dovecot sends its client's address as it knows it; a local login has none.
    ...(remote !== undefined && isIP(remote) !== 0 ? { client: { sent: remote, address: remote } } : {}),
    // Hex of at least one byte: anything else is not Dovecot's hash, and cannot make a repeat.
    ...(pwhash !== undefined && /^[0-9a-f]{2,128}$/i.test(pwhash) ? { pwhash: pwhash.toLowerCase() } : {}),
    ...(typeof tls === 'boolean' ? { secured: tls } : {}),
  };
  if (typeof success !== 'boolean') return { ok: true, question };
  const failType = text('fail_type');
  const report: PolicyReport = { success, policyRefused: policyReject === true, ...(failType ? { failType } : {}) };
  return { ok: true, question, report };
}

/** Nested objects become `a/b` names, as Dovecot's attribute names made them; undefined when every value is a string or a boolean. */
function flatten(object: Record<string, unknown>, prefix: string, depth: number, into: Map<string, string | boolean>): string | undefined {
  if (depth > MAX_NESTING) return 'attributes nested too deep';
  for (const [name, value] of Object.entries(object)) {
    const key = prefix + name;
    if (isObject(value)) {
      const problem = flatten(value, `${key}/`, depth + 1, into);
      if (problem !== undefined) return problem;
    } else if (typeof value === 'string' || typeof value === 'boolean') {
      into.set(key, value);
    } else {
      return `attribute ${JSON.stringify(key.slice(0, 64))} is neither text nor true/false`;
    }
    if (into.size > MAX_ATTRIBUTES) return 'too many attributes';
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
