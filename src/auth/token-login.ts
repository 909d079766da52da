/**
 * What a bearer token's verdict (oauth/access-tokens.ts) means for a login
 * that named a mailbox: the token must be good, and name that mailbox. The
 * mailbox's own rules (active, its domain active, smtp_active for SMTP) are
 * the lookup's, as for a password; a value's own refusals (an expired
 * password, TOTP for the main password) are about passwords, and a token is
 * none.
 */
import { ErrorCodes } from '../errors.js';
import type { TokenVerdict } from '../oauth/access-tokens.js';
import type { TokenMechanism } from '../protocol/sasl-token.js';
import type { Outcome } from './outcome.js';

/** Checks bearer tokens: the daemon's is oauth/access-tokens.ts. */
export interface TokenCheck {
  verify(token: string | Uint8Array): Promise<TokenVerdict>;
}

/** Names compared as mailbox tables compare them: without regard to case. */
const sameName = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/** The outcome for the row `rowUser`, found for the name the client asked as (`asked`). */
export function tokenOutcome(verdict: TokenVerdict, mechanism: TokenMechanism, rowUser: string, asked: string): Outcome {
  switch (verdict.kind) {
    case 'unavailable':
      return { result: 'temporary-failure', code: ErrorCodes.TOKEN_PROVIDER_UNAVAILABLE, reason: verdict.reason };
    case 'refused':
      return { result: 'failure', code: verdict.status === 'insufficient_scope' ? ErrorCodes.TOKEN_SCOPE : ErrorCodes.INVALID_TOKEN, reason: verdict.reason, scheme: mechanism };
    case 'good':
      if (!sameName(verdict.identity, rowUser) && !sameName(verdict.identity, asked)) {
        return { result: 'failure', code: ErrorCodes.TOKEN_OTHER_USER, reason: 'the token is good but names another mailbox', scheme: mechanism };
      }
      return { result: 'success', scheme: mechanism };
  }
}
