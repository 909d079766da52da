/**
 * Reads a Linux-PAM service file (/etc/pam.d/<service>) far enough to find
 * the pam_mysql.so lines: comments, "\" continuations, "[...]" arguments
 * with spaces in them, "-auth" lines, and "@include" / "include" /
 * "substack" directives are understood.
 *
 * It is as strict as Linux-PAM where Linux-PAM would fail logins: a line whose
 * type is not a PAM type (Linux-PAM installs it as an auth module that always
 * fails), an auth or account line whose control is not one PAM knows or whose
 * [value=action] list does not parse, an unclosed "[", a line with no module.
 * Such a file works nowhere, so it is refused here too (with file and line)
 * instead of working until the day of a rollback to saslauthd.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export interface PamModuleLine {
  readonly type: 'auth' | 'account';
  readonly control: string;
  readonly args: readonly string[];
  /** Where it was found, for log messages. */
  readonly origin: string;
}

/** An auth or account line for a module other than pam_mysql.so: the daemon does not run it. */
export interface OtherModuleLine {
  readonly type: 'auth' | 'account';
  readonly control: string;
  /** The module's file name, e.g. pam_listfile.so. */
  readonly module: string;
  readonly origin: string;
}

export interface PamMysqlLines {
  readonly auth?: PamModuleLine;
  readonly account?: PamModuleLine;
  /** Every other auth and account module in the stack, includes followed. */
  readonly others: readonly OtherModuleLine[];
}

/**
 * Whether a module line can turn a login down: "required" and "requisite" can,
 * and so can a [value=action ...] control with a "bad" or "die" action.
 */
export function couldDeny(control: string): boolean {
  if (control === 'required' || control === 'requisite') return true;
  return /(^|\s)[a-z_]+=(bad|die)(\s|$)/.test(control);
}

/** Whether a module line can let a login in on its own: "sufficient", or a "done" action on success. */
export function couldGrant(control: string): boolean {
  return control === 'sufficient' || /(^|\s)success=done(\s|$)/.test(control);
}

/** A service file that Linux-PAM would not run as written; the message names the file and line. */
export class PamFileError extends Error {
  override readonly name = 'PamFileError';
}

const MODULE_TYPES = new Set(['auth', 'account', 'password', 'session']);
const SIMPLE_CONTROLS = new Set(['required', 'requisite', 'sufficient', 'optional', 'include', 'substack']);
/** The return values a [value=action] control may name (Linux-PAM's _pam_token_returns). */
const RETURN_VALUES = new Set([
  'success', 'open_err', 'symbol_err', 'service_err', 'system_err', 'buf_err', 'perm_denied', 'auth_err', 'cred_insufficient',
  'authinfo_unavail', 'user_unknown', 'maxtries', 'new_authtok_reqd', 'acct_expired', 'session_err', 'cred_unavail', 'cred_expired',
  'cred_err', 'no_module_data', 'conv_err', 'authtok_err', 'authtok_recover_err', 'authtok_lock_busy', 'authtok_disable_aging',
  'try_again', 'ignore', 'abort', 'authtok_expired', 'module_unknown', 'bad_item', 'conv_again', 'incomplete', 'default',
]);
const ACTION = /^(ignore|ok|done|bad|die|reset|[1-9]\d*)$/;

/** Why a control field is not one Linux-PAM accepts, or undefined when it is. */
function controlProblem(control: string, bracketed: boolean): string | undefined {
  if (!bracketed) return SIMPLE_CONTROLS.has(control.toLowerCase()) ? undefined : `"${control}" is not a PAM control (required, requisite, sufficient, optional, include, substack or [value=action ...])`;
  const pairs = control.trim().split(/\s+/).filter((pair) => pair !== '');
  if (pairs.length === 0) return 'an empty [...] control';
  for (const pair of pairs) {
    const [value, action, ...extra] = pair.split('=');
    if (extra.length > 0 || value === undefined || action === undefined) return `"${pair}" in [...] is not value=action`;
    if (!RETURN_VALUES.has(value)) return `"${value}" in [...] is not a PAM return value (success, auth_err, user_unknown, default, ...)`;
    if (!ACTION.test(action)) return `"${action}" in [...] is not a PAM action (ignore, ok, done, bad, die, reset or a number)`;
  }
  return undefined;
}

/** Includes nest at most this deep (a loop must not hang start-up). */
const MAX_INCLUDE_DEPTH = 8;

/** Split one logical line into tokens; "[...]" is one token (with "\]" for a literal bracket), its brackets removed. */
export function tokenize(line: string): string[] {
  return tokenizeMarked(line).tokens;
}

/** The tokens, which of them had brackets, and whether a "[" was left open. */
function tokenizeMarked(line: string): { tokens: string[]; bracketed: boolean[]; unclosed: boolean } {
  const tokens: string[] = [];
  const bracketed: boolean[] = [];
  let unclosed = false;
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i += 1;
    if (i >= line.length) break;
    let token = '';
    let hadBracket = false;
    while (i < line.length && !/\s/.test(line[i]!)) {
      if (line[i] === '[') {
        hadBracket = true;
        i += 1;
        while (i < line.length && line[i] !== ']') {
          if (line[i] === '\\' && line[i + 1] === ']') i += 1;
          token += line[i];
          i += 1;
        }
        if (i >= line.length) unclosed = true;
        i += 1;
      } else {
        token += line[i];
        i += 1;
      }
    }
    tokens.push(token);
    bracketed.push(hadBracket);
  }
  return { tokens, bracketed, unclosed };
}

function logicalLines(text: string): Array<{ line: string; number: number }> {
  const out: Array<{ line: string; number: number }> = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, index) => {
    const withoutComment = raw.replace(/\r$/, '').replace(/(^|\s)#.*$/, '');
    if (pending === '') start = index + 1;
    if (withoutComment.endsWith('\\')) {
      pending += `${withoutComment.slice(0, -1)} `;
      return;
    }
    const line = (pending + withoutComment).trim();
    pending = '';
    if (line !== '') out.push({ line, number: start });
  });
  return out;
}

/** Find the first auth and account lines that load pam_mysql.so, following includes. */
export function findPamMysqlLines(file: string, read: (file: string) => string = (f) => readFileSync(f, 'utf8'), depth = 0): PamMysqlLines {
  if (depth > MAX_INCLUDE_DEPTH) throw new Error(`includes nest deeper than ${MAX_INCLUDE_DEPTH} levels at ${file}`);
  const dir = path.dirname(file);
  const found: { auth?: PamModuleLine; account?: PamModuleLine; others: OtherModuleLine[] } = { others: [] };
  const merge = (more: PamMysqlLines) => {
    if (!found.auth && more.auth) found.auth = more.auth;
    if (!found.account && more.account) found.account = more.account;
    found.others.push(...more.others);
  };
  for (const { line, number } of logicalLines(read(file))) {
    const { tokens, bracketed, unclosed } = tokenizeMarked(line);
    const origin = `${file}:${number}`;
    const refuse = (problem: string): never => {
      throw new PamFileError(`${origin}: ${problem}; Linux-PAM would fail every login through this file, so it is refused here too`);
    };
    if (unclosed) refuse('a "[" is never closed');
    if (tokens[0] === '@include') {
      if (!tokens[1]) refuse('@include names no file');
      merge(findPamMysqlLines(path.resolve(dir, tokens[1]!), read, depth + 1));
      continue;
    }
    const type = tokens[0]!.replace(/^-/, '').toLowerCase();
    if (!MODULE_TYPES.has(type)) refuse(`"${tokens[0]}" is not a PAM module type (auth, account, password, session)`);
    if (type !== 'auth' && type !== 'account') continue;
    const [, control = '', module = '', ...args] = tokens;
    if (control === '') refuse('no control and no module');
    const problem = controlProblem(control, bracketed[1] === true);
    if (problem) refuse(problem);
    if (module === '') refuse('no module');
    if (!bracketed[1] && (control.toLowerCase() === 'include' || control.toLowerCase() === 'substack')) {
      merge(findPamMysqlLines(path.resolve(dir, module), read, depth + 1));
      continue;
    }
    if (path.basename(module) !== 'pam_mysql.so') {
      found.others.push({ type, control: bracketed[1] ? control : control.toLowerCase(), module: path.basename(module), origin });
      continue;
    }
    if (!found[type]) found[type] = { type, control: bracketed[1] ? control : control.toLowerCase(), args, origin };
  }
  return found;
}
