/**
 * What goes back on the wire. libsasl2 checks only the first two bytes for
 * "OK"; any other reply of two bytes or more is a permanent failure (Postfix:
 * 535), and closing without a reply is a temporary one (Postfix: 454).
 */
import { ErrorCodes } from '../errors.js';
import type { EarlyRefusal } from './request.js';

export type Reply =
  | { readonly kind: 'answer'; readonly text: string }
  /** Close without answering: the client reports a temporary failure and retries later. */
  | { readonly kind: 'no-answer' };

export const REPLY_OK: Reply = Object.freeze({ kind: 'answer', text: 'OK' });

/**
 * One text for every credential failure (unknown user, wrong password,
 * refused name), so the answer does not tell which mailboxes exist. The log
 * line carries the real reason.
 */
export const REPLY_AUTH_FAILED: Reply = Object.freeze({ kind: 'answer', text: 'NO authentication failed' });

export const NO_ANSWER: Reply = Object.freeze({ kind: 'no-answer' });

/** saslauthd's own words for a request it refuses before any mechanism runs (request.ts). */
const EARLY_REFUSALS: Readonly<Record<EarlyRefusal, Reply>> = Object.freeze({
  // An oversized field is answered "NO " with an empty message.
  [ErrorCodes.FIELD_TOO_LONG]: Object.freeze({ kind: 'answer', text: 'NO ' }),
  [ErrorCodes.NULL_LOGIN]: Object.freeze({ kind: 'answer', text: 'NO NULL login received' }),
  [ErrorCodes.NULL_PASSWORD]: Object.freeze({ kind: 'answer', text: 'NO NULL password received' }),
});

export function earlyRefusalReply(code: EarlyRefusal): Reply {
  return EARLY_REFUSALS[code];
}
