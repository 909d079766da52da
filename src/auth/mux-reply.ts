/**
 * The one place an outcome becomes a saslauthd answer. libsasl2 reads a reply
 * starting "OK" as success, any other reply as a wrong password (Postfix: 535),
 * and a connection closed without a reply as a temporary failure (Postfix: 454).
 */
import { NO_ANSWER, REPLY_AUTH_FAILED, REPLY_OK, type Reply } from '../protocol/replies.js';
import type { Decision } from './authenticator.js';

export function muxReply({ outcome }: Decision): Reply {
  switch (outcome.result) {
    case 'success':
      return REPLY_OK;
    case 'failure':
      return REPLY_AUTH_FAILED;
    case 'temporary-failure':
      return NO_ANSWER;
  }
}
