/**
 * Opaque access tokens, asked about at the identity provider's introspection
 * endpoint (RFC 7662) with the daemon's own client credentials: active, this
 * issuer's, for this audience, not expired, the required scope, and the claim
 * that names the mailbox.
 *
 * An answer is reused for at most the configured time (and never past the
 * token's own expiry), so that a revoked token stops working within it; 0
 * asks every time. Answers are kept by a digest of the token, never by the
 * token itself.
 */
import { createHash } from 'node:crypto';
import { growingLru } from '../common/growing-lru.js';
import { fetchJson, IssuerUnavailable } from './issuer-metadata.js';
import { asText, judgeClaims, type TokenRules, type TokenVerdict } from './token-verdict.js';

export interface IntrospectionSettings extends TokenRules {
  /** The daemon's client at the provider (client_secret_basic). */
  readonly clientId: string;
  readonly clientSecret: string;
  /** How long an answer is reused; 0: never. */
  readonly reuseMs: number;
}

/** Answers remembered at most: a busy site's distinct tokens within the reuse time. */
const REMEMBERED_ANSWERS = 10_000;

/** RFC 7662's fields as the daemon reads them. */
interface IntrospectionAnswer {
  readonly active?: unknown;
  readonly iss?: unknown;
  readonly aud?: unknown;
  readonly exp?: unknown;
  readonly nbf?: unknown;
  readonly scope?: unknown;
  readonly [claim: string]: unknown;
}

export class TokenIntrospection {
  readonly #settings: IntrospectionSettings;
  readonly #answers = growingLru<string, { readonly verdict: TokenVerdict; readonly until: number }>(REMEMBERED_ANSWERS);

  constructor(settings: IntrospectionSettings) {
    this.#settings = settings;
  }

  async verify(token: string | Uint8Array, endpoint: URL): Promise<TokenVerdict> {
    const key = createHash('sha256').update(token).digest('base64url');
    const known = this.#answers.get(key);
    if (known && known.until > Date.now()) return known.verdict;
    const { clientId, clientSecret, deadlineMs, reuseMs } = this.#settings;
    let answer: unknown;
    try {
      answer = await fetchJson(endpoint.href, deadlineMs, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ token: asText(token), token_type_hint: 'access_token' }).toString(),
      });
    } catch (error) {
      return { kind: 'unavailable', reason: `token introspection at ${endpoint.href}: ${(error as IssuerUnavailable).message}` };
    }
    if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) return { kind: 'unavailable', reason: `token introspection at ${endpoint.href}: the answer is not a JSON object` };
    const fields = answer as IntrospectionAnswer;
    const verdict = this.#judge(fields);
    if (reuseMs > 0 && verdict.kind !== 'unavailable') {
      const expiresAt = typeof fields.exp === 'number' ? fields.exp * 1000 : Infinity;
      this.#answers.set(key, { verdict, until: Math.min(Date.now() + reuseMs, expiresAt) });
    }
    return verdict;
  }

  #judge(fields: IntrospectionAnswer): TokenVerdict {
    const { issuer, audience, clockSkewS } = this.#settings;
    const refused = (reason: string): TokenVerdict => ({ kind: 'refused', status: 'invalid_token', reason });
    if (fields.active !== true) return refused('the provider says the token is not active (expired, revoked, or never issued)');
    if (fields.iss !== undefined && fields.iss !== issuer) return refused("the token's iss claim is not accepted (check_failed)");
    const audiences = typeof fields.aud === 'string' ? [fields.aud] : Array.isArray(fields.aud) ? fields.aud : [];
    if (!audiences.includes(audience)) return refused("the token's aud claim is not accepted (check_failed)");
    const now = Date.now() / 1000;
    if (typeof fields.exp === 'number' && fields.exp + clockSkewS <= now) return refused('the token has expired');
    if (typeof fields.nbf === 'number' && fields.nbf - clockSkewS > now) return refused("the token's nbf claim is not accepted (check_failed)");
    return judgeClaims(fields, this.#settings);
  }
}
