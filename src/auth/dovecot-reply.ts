/**
 * The one place an outcome becomes an answer of Dovecot's auth protocol, as
 * mux-reply.ts is for saslauthd's socket. Postfix turns every FAIL into 535
 * ("wrong password") and only a lost connection into 454, so a temporary
 * failure closes the connection; OK carries the row's own user name, which
 * Postfix takes as the SASL user.
 */
import type { DovecotAnswer } from '../protocol/dovecot-connection.js';
import { ErrorCodes } from '../errors.js';
import type { Decision } from './authenticator.js';

const FAIL: DovecotAnswer = Object.freeze({ kind: 'fail' });
/** A token without the scope it needs gets RFC 7628's insufficient_scope; every other refusal of a token login, invalid_token (dovecot-connection.ts sends it only for a token). */
const FAIL_SCOPE: DovecotAnswer = Object.freeze({ kind: 'fail', tokenStatus: 'insufficient_scope' });
const TEMPORARY: DovecotAnswer = Object.freeze({ kind: 'temporary' });

export function dovecotReply({ outcome, user }: Decision): DovecotAnswer {
  switch (outcome.result) {
    case 'success':
      return { kind: 'ok', user };
    case 'failure':
      return outcome.code === ErrorCodes.TOKEN_SCOPE ? FAIL_SCOPE : FAIL;
    case 'temporary-failure':
      return TEMPORARY;
  }
}
