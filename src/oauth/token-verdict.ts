/**
 * What the daemon makes of a token, whichever way it was checked (a JWT
 * locally, an opaque token by introspection): the verdict, the last step
 * both ways share (the scope and the claim that names the mailbox), and the
 * token's bytes read as text.
 */

export type TokenVerdict =
  | { readonly kind: 'good'; readonly identity: string }
  | { readonly kind: 'refused'; readonly status: 'invalid_token' | 'insufficient_scope'; readonly reason: string }
  | { readonly kind: 'unavailable'; readonly reason: string };

/** What both ways check of a good token's claims. */
export interface ClaimRules {
  /** The claim that names the mailbox (email, preferred_username...). */
  readonly claim: string;
  /** A scope the token must carry, when set. */
  readonly scope?: string;
}

/** What every token is held to, whichever way it is checked. */
export interface TokenRules extends ClaimRules {
  /** The issuer's identifier, as its tokens' `iss` and its discovery document say it. */
  readonly issuer: string;
  /** What `aud` must hold: the identifier the provider gives this mail service. */
  readonly audience: string;
  /** How far `exp` and `nbf` may be off, seconds. */
  readonly clockSkewS: number;
  /** Each request to the provider (discovery, keys, introspection) gets this long. */
  readonly deadlineMs: number;
}

/** A claim naming a mailbox: a name, not a document. */
const MAX_IDENTITY_LENGTH = 256;

/** RFC 9068's space-separated `scope`, or the `scp` list some providers send. */
function scopesOf(claims: Readonly<Record<string, unknown>>): string[] {
  const { scope, scp } = claims;
  if (typeof scope === 'string') return scope.split(' ').filter(Boolean);
  if (Array.isArray(scp)) return scp.filter((entry): entry is string => typeof entry === 'string');
  if (typeof scp === 'string') return scp.split(' ').filter(Boolean);
  return [];
}

/** The required scope, then the mailbox's name from its claim. */
export function judgeClaims(claims: Readonly<Record<string, unknown>>, { claim, scope }: ClaimRules): TokenVerdict {
  if (scope !== undefined && !scopesOf(claims).includes(scope)) return { kind: 'refused', status: 'insufficient_scope', reason: `the token lacks the scope ${scope}` };
  const identity = claims[claim];
  if (typeof identity !== 'string' || identity === '') return { kind: 'refused', status: 'invalid_token', reason: `the token has no ${claim} claim` };
  if (identity.length > MAX_IDENTITY_LENGTH) return { kind: 'refused', status: 'invalid_token', reason: `the token's ${claim} claim is longer than ${MAX_IDENTITY_LENGTH} characters` };
  return { kind: 'good', identity };
}

/** The token as text, without another copy of its bytes when it arrived as a Buffer. */
export function asText(token: string | Uint8Array): string {
  if (typeof token === 'string') return token;
  return (Buffer.isBuffer(token) ? token : Buffer.from(token.buffer, token.byteOffset, token.byteLength)).toString('latin1');
}
