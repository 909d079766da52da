/**
 * Turning request bytes into names we can log and look up. Names must be
 * valid UTF-8 without control characters: anything else cannot be a real
 * mailbox, could forge log lines, and would look different to every backend.
 */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** C0 controls, DEL and C1 controls. NUL is among them: saslauthd's C strings would cut a name there. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/u;

export type TextProblem = 'invalid-utf8' | 'control-character';

export type DecodedText = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly problem: TextProblem };

export function decodeName(bytes: Buffer): DecodedText {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, problem: 'invalid-utf8' };
  }
  if (CONTROL_CHARACTER.test(text)) return { ok: false, problem: 'control-character' };
  return { ok: true, text };
}

/**
 * A printable rendering of bytes we refused, for the log: escapes anything
 * that is not printable ASCII, so a hostile name cannot inject log lines.
 */
export function escapeForLog(bytes: Buffer): string {
  let out = '';
  for (const byte of bytes) {
    out += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}
