/**
 * A token login's outcome, every lookup result crossed with every token
 * verdict, on scripted inputs: what the Dovecot protocol answers, the code
 * logged, and that the token is checked whether or not a mailbox exists (the
 * time does not tell), while the password verifier is never asked.
 */
import { describe, expect, it } from 'vitest';
import { Authenticator } from '../../src/auth/authenticator.js';
import { dovecotReply } from '../../src/auth/dovecot-reply.js';
import type { TokenCheck } from '../../src/auth/token-login.js';
import type { LookupResult } from '../../src/backends/backend.js';
import { CachingVerifier } from '../../src/cache/caching-verifier.js';
import { PasswordDigester } from '../../src/cache/password-digest.js';
import type { Verifier } from '../../src/crypt/verifier.js';
import { ErrorCodes, type ErrorCode } from '../../src/errors.js';
import type { TokenVerdict } from '../../src/oauth/token-verdict.js';
import { Secret } from '../../src/protocol/secret.js';
import type { LoginRequest } from '../../src/protocol/request.js';
import { logSink } from '../helpers/log-sink.js';
import { ROOM } from '../helpers/login-request.js';

const LOOKUPS: Record<string, LookupResult> = {
  found: { status: 'found', user: 'alice@example.org', candidates: [{ stored: '$1$stored$value', role: 'password' }] },
  // A password's own refusal (PostfixAdmin's expired password, TOTP for the main password) is about passwords.
  'found, its password expired': { status: 'found', candidates: [{ stored: '$1$stored$value', role: 'password', refusal: { code: ErrorCodes.PASSWORD_EXPIRED, reason: 'password expired' } }] },
  unknown: { status: 'unknown' },
  'smtp_active = 0': { status: 'refused', code: ErrorCodes.SMTP_DISABLED, reason: 'smtp_active is 0' },
  misconfigured: { status: 'misconfigured', code: ErrorCodes.AMBIGUOUS_USER, reason: 'two rows' },
  'database down': { status: 'unavailable', code: ErrorCodes.BACKEND_UNAVAILABLE, reason: 'connection refused' },
};

const VERDICTS: Record<string, TokenVerdict> = {
  good: { kind: 'good', identity: 'Alice@Example.org' },
  "another user's": { kind: 'good', identity: 'bob@example.org' },
  refused: { kind: 'refused', status: 'invalid_token', reason: 'the token has expired' },
  'without the scope': { kind: 'refused', status: 'insufficient_scope', reason: 'the token lacks the scope mail' },
  'provider down': { kind: 'unavailable', reason: 'no answer within 3000 ms' },
};

const NEVER: Verifier = {
  verify: () => Promise.reject(new Error('a token login must not check a password')),
  verifyDummy: () => Promise.reject(new Error('a token login must not check a password')),
};

function tokenRequest(): LoginRequest {
  return { listener: 'dovecot', login: Buffer.from('alice@example.org'), password: new Secret(Buffer.from('a.b.c')), token: 'OAUTHBEARER', service: Buffer.from('smtp'), realm: Buffer.alloc(0) };
}

/** [lookup, verdict, the answer's kind (and token status), the code logged] */
const TABLE: Array<[string, string, string, ErrorCode | undefined]> = [
  ['found', 'good', 'ok alice@example.org', undefined],
  ['found, its password expired', 'good', 'ok alice@example.org', undefined],
  ['found', "another user's", 'fail', ErrorCodes.TOKEN_OTHER_USER],
  ['found', 'refused', 'fail', ErrorCodes.INVALID_TOKEN],
  ['found', 'without the scope', 'fail insufficient_scope', ErrorCodes.TOKEN_SCOPE],
  ['found', 'provider down', 'temporary', ErrorCodes.TOKEN_PROVIDER_UNAVAILABLE],
  ['unknown', 'good', 'fail', ErrorCodes.UNKNOWN_USER],
  ['unknown', 'provider down', 'temporary', ErrorCodes.TOKEN_PROVIDER_UNAVAILABLE],
  ['smtp_active = 0', 'good', 'fail', ErrorCodes.SMTP_DISABLED],
  ['misconfigured', 'good', 'temporary', ErrorCodes.AMBIGUOUS_USER],
  ['database down', 'good', 'temporary', ErrorCodes.BACKEND_UNAVAILABLE],
];

describe('a token login: lookup result x token verdict -> answer and code', () => {
  it.each(TABLE)('%s, a token %s -> %s %s', async (lookupName, verdictName, expected, code) => {
    const sink = logSink();
    const checked: string[] = [];
    const tokens: TokenCheck = {
      verify: (token) => {
        checked.push(Buffer.from(token).toString());
        return Promise.resolve(VERDICTS[verdictName]!);
      },
    };
    const auth = new Authenticator({
      backend: { mechanism: 'scripted', lookup: () => Promise.resolve(LOOKUPS[lookupName]!) },
      realm: { joinRealm: true, lowercase: false },
      passwords: new CachingVerifier(NEVER, 0, new PasswordDigester()),
      logger: sink.logger,
      tokens,
    });
    const answer = dovecotReply(await auth.authenticate(tokenRequest(), new AbortController(), ROOM));
    const shown = answer.kind === 'ok' ? `ok ${answer.user}` : answer.kind === 'fail' && answer.tokenStatus ? `fail ${answer.tokenStatus}` : answer.kind;
    expect(shown).toBe(expected);
    expect(sink.authEvents().at(-1)?.code).toBe(code);
    // The token is checked once wherever the lookup left a name to check it for; never with the database down or misread.
    expect(checked).toEqual(['misconfigured', 'database down'].includes(lookupName) ? [] : ['a.b.c']);
    expect(sink.raw.join('')).not.toContain('a.b.c');
  });
});
