/**
 * Reads a Linux-PAM service file (/etc/pam.d/<service>) far enough to find
 * the pam_mysql.so lines: comments, "\" continuations, "[...]" arguments
 * with spaces in them, "-auth" lines, and "@include" / "include" /
 * "substack" directives are understood.
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

/** Includes nest at most this deep (a loop must not hang start-up). */
const MAX_INCLUDE_DEPTH = 8;

/** Split one logical line into tokens; "[...]" is one token (with "\]" for a literal bracket), its brackets removed. */
export function tokenize(line: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i += 1;
    if (i >= line.length) break;
    let token = '';
    while (i < line.length && !/\s/.test(line[i]!)) {
      if (line[i] === '[') {
        i += 1;
        while (i < line.length && line[i] !== ']') {
          if (line[i] === '\\' && line[i + 1] === ']') i += 1;
          token += line[i];
          i += 1;
        }
        i += 1;
      } else {
        token += line[i];
        i += 1;
      }
    }
    tokens.push(token);
  }
  return tokens;
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
    const tokens = tokenize(line);
    const origin = `${file}:${number}`;
    if (tokens[0] === '@include' && tokens[1]) {
      merge(findPamMysqlLines(path.resolve(dir, tokens[1]), read, depth + 1));
      continue;
    }
    const type = tokens[0]?.replace(/^-/, '');
    if (type !== 'auth' && type !== 'account') continue;
    const [, control = '', module = '', ...args] = tokens;
    if ((control === 'include' || control === 'substack') && module) {
      merge(findPamMysqlLines(path.resolve(dir, module), read, depth + 1));
      continue;
    }
    if (path.basename(module) !== 'pam_mysql.so') {
      if (module) found.others.push({ type, control, module: path.basename(module), origin });
      continue;
    }
    if (!found[type]) found[type] = { type, control, args, origin };
  }
  return found;
}
