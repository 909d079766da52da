/**
 * The line format of Dovecot's auth-client protocol, as Postfix
 * (smtpd_sasl_type = dovecot), Exim and doveadm speak it: one command per
 * line ending in LF, fields separated by TAB, and inside a value TAB, LF, CR
 * and \001 written as \001 followed by t, n, r or 1 (Dovecot's tab-escaping).
 * docs/protocol.md has the exchange.
 */

/** A line longer than this closes the connection: an AUTH with a PLAIN initial response of saslauthd's largest fields fits many times over. */
export const MAX_LINE_BYTES = 8192;

const ESCAPES: Readonly<Record<string, string>> = { '\u0001': '\u00011', '\t': '\u0001t', '\n': '\u0001n', '\r': '\u0001r' };
const UNESCAPES: Readonly<Record<string, string>> = { '1': '\u0001', t: '\t', n: '\n', r: '\r' };

/** A value made safe for one field of a line. */
export function tabEscape(value: string): string {
  return /[\u0001\t\n\r]/.test(value) ? value.replace(/[\u0001\t\n\r]/g, (char) => ESCAPES[char]!) : value;
}

/** A field as received, escapes undone; undefined when an escape is not one Dovecot writes. */
export function tabUnescape(field: string): string | undefined {
  if (!field.includes('\u0001')) return field;
  let out = '';
  for (let i = 0; i < field.length; i += 1) {
    if (field[i] !== '\u0001') {
      out += field[i];
      continue;
    }
    const replacement = UNESCAPES[field[i + 1] ?? ''];
    if (replacement === undefined) return undefined;
    out += replacement;
    i += 1;
  }
  return out;
}

/** One command line, split: the command and its fields, escapes undone. Undefined for a line that is not valid. */
export function parseLine(line: string): { readonly command: string; readonly fields: readonly string[] } | undefined {
  const parts = line.split('\t');
  const fields: string[] = [];
  for (const part of parts.slice(1)) {
    const field = tabUnescape(part);
    if (field === undefined) return undefined;
    fields.push(field);
  }
  const command = parts[0]!;
  return /^[A-Z]+$/.test(command) ? { command, fields } : undefined;
}

/** A command line to send: fields escaped, TAB-separated, LF-terminated. */
export function formatLine(command: string, ...fields: readonly string[]): string {
  return `${[command, ...fields.map(tabEscape)].join('\t')}\n`;
}

/** AUTH's parameters after the id and mechanism: "name=value" or a bare flag ("secured", "nologin"). */
export function authParameters(fields: readonly string[]): ReadonlyMap<string, string> {
  const parameters = new Map<string, string>();
  for (const field of fields) {
    const eq = field.indexOf('=');
    parameters.set(eq < 0 ? field : field.slice(0, eq), eq < 0 ? '' : field.slice(eq + 1));
  }
  return parameters;
}

/** Strict base64 (Dovecot refuses anything else with code=invalid_base64). */
export function decodeBase64(text: string): Buffer | undefined {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}
