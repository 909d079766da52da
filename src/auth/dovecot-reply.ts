/**
 * The one place an outcome becomes an answer of Dovecot's auth protocol, as
 * mux-reply.ts is for saslauthd's socket. Postfix turns every FAIL into 535
 * ("wrong password") and only a lost connection into 454, so a temporary
 * failure closes the connection; OK carries the row's own user name, which
 * Postfix takes as the SASL user.
 */
import type { DovecotAnswer } from '../protocol/dovecot-connection.js';
import type { Decision } from './authenticator.js';

const FAIL: DovecotAnswer = Object.freeze({ kind: 'fail' });
const TEMPORARY: DovecotAnswer = Object.freeze({ kind: 'temporary' });

export function dovecotReply({ outcome, user }: Decision): DovecotAnswer {
  switch (outcome.result) {
    case 'success':
      return { kind: 'ok', user };
    case 'failure':
      return FAIL;
    case 'temporary-failure':
      return TEMPORARY;
  }
}
