/**
 * What goes back on the wire. libsasl2 checks only the first two bytes for
 * "OK"; any other reply of two bytes or more is a permanent failure (Postfix:
 * 535), and closing without a reply is a temporary one (Postfix: 454).
 */
import type { AuthRequest } from './codec.js';
import { ErrorCodes, type ErrorCode } from '../errors.js';

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

/** saslauthd answers an oversized field with "NO " and an empty message. */
export const REPLY_FIELD_TOO_LONG: Reply = Object.freeze({ kind: 'answer', text: 'NO ' });

const REPLY_NULL_LOGIN: Reply = Object.freeze({ kind: 'answer', text: 'NO NULL login received' });
const REPLY_NULL_PASSWORD: Reply = Object.freeze({ kind: 'answer', text: 'NO NULL password received' });

export interface ProtocolRejection {
  readonly reply: Reply;
  readonly code: ErrorCode;
}

/**
 * saslauthd's own checks, made after all fields are read and before any
 * mechanism runs: an empty login or password is refused with a fixed text.
 * Service and realm may be empty.
 */
export function rejectEmptyCredentials(request: AuthRequest): ProtocolRejection | undefined {
  if (request.login.length === 0) return { reply: REPLY_NULL_LOGIN, code: ErrorCodes.NULL_LOGIN };
  if (request.password.byteLength === 0) return { reply: REPLY_NULL_PASSWORD, code: ErrorCodes.NULL_PASSWORD };
  return undefined;
}
