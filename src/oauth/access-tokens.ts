/**
 * Whether a JWT access token is good for this mail host, checked locally
 * with the identity provider's published keys (jose): its signature by one
 * of the issuer's keys with an algorithm the issuer lists (asymmetric only:
 * never "none", never an HMAC keyed with a public key), `iss` exactly the
 * configured issuer, `aud` holding the configured audience, `exp` present
 * and not past, `nbf` not ahead (both within the allowed clock skew), the
 * required scope when one is configured, and the claim that names the
 * mailbox.
 *
 * The keys are fetched with a deadline and kept; a token signed by a key id
 * the set does not hold makes it fetch the set again, at most once per
 * refresh interval, so a rotated key is picked up without a restart and a
 * stream of made-up key ids costs the provider one request per interval.
 *
 * Three verdicts, as for a password: good (the mailbox's name), refused (a
 * definite no: the token's own fault), and unavailable (the provider could
 * not be asked: a temporary failure, never a no).
 */
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { discoveryUrl, IssuerDiscovery, IssuerUnavailable, type IssuerMetadata } from './issuer-metadata.js';
import { TokenIntrospection } from './introspection.js';
import { asText, judgeClaims, type TokenRules, type TokenVerdict } from './token-verdict.js';

export type { TokenRules, TokenVerdict } from './token-verdict.js';

export interface AccessTokenSettings extends TokenRules {
  /** An unknown key id fetches the keys again at most this often; a failed discovery is retried as often. */
  readonly refreshMs: number;
  /** Opaque tokens (anything but a JWT) are asked about at the provider's introspection endpoint with these client credentials, when set. */
  readonly introspection?: { readonly clientId: string; readonly clientSecret: string; readonly reuseMs: number };
}

/** Three base64url parts: what a JWS in compact form looks like (anything else is an opaque token). */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** How long a fetched key set is used before it is fetched again whatever tokens say. */
const KEYS_MAX_AGE_MS = 10 * 60_000;

/** The provider could not give the keys: not the token's fault. */
class KeysUnavailable extends Error {
  override readonly name = 'KeysUnavailable';
}

/** Errors of the key set that are the token's doing: a key id or algorithm the issuer does not have. */
const TOKEN_KEY_ERRORS = new Set([errors.JWKSNoMatchingKey.code, errors.JWKSMultipleMatchingKeys.code, errors.JOSENotSupported.code, errors.JWSInvalid.code]);

export class AccessTokens {
  readonly #settings: AccessTokenSettings;
  readonly #discovery: IssuerDiscovery;
  readonly #introspection: TokenIntrospection | undefined;
  #keys: { readonly uri: string; readonly get: JWTVerifyGetKey } | undefined;

  constructor(settings: AccessTokenSettings) {
    this.#settings = settings;
    this.#discovery = new IssuerDiscovery(settings.issuer, settings.deadlineMs, settings.refreshMs);
    this.#introspection = settings.introspection ? new TokenIntrospection({ ...settings, ...settings.introspection }) : undefined;
  }

  /** The issuer's discovery document address, for the error a client is sent. */
  get openidConfiguration(): string {
    return discoveryUrl(this.#settings.issuer);
  }

  async verify(token: string | Uint8Array): Promise<TokenVerdict> {
    let metadata: IssuerMetadata;
    try {
      metadata = await this.#discovery.metadata();
    } catch (error) {
      return { kind: 'unavailable', reason: `identity provider ${this.#settings.issuer}: ${(error as Error).message}` };
    }
    if (!JWT_SHAPE.test(asText(token))) return this.#opaque(token, metadata);
    const { issuer, audience, clockSkewS } = this.#settings;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#keysOf(metadata), { issuer, audience, algorithms: [...metadata.algorithms], clockTolerance: clockSkewS, requiredClaims: ['exp'] }));
    } catch (error) {
      if (error instanceof KeysUnavailable) return { kind: 'unavailable', reason: `identity provider ${issuer}: ${error.message}` };
      return { kind: 'refused', status: 'invalid_token', reason: refusalReason(error) };
    }
    return judgeClaims(payload, this.#settings);
  }

  /** Not a JWT: the provider is asked, when introspection is configured; otherwise refused. */
  async #opaque(token: string | Uint8Array, metadata: IssuerMetadata): Promise<TokenVerdict> {
    if (!this.#introspection) return { kind: 'refused', status: 'invalid_token', reason: 'the token is not a JWT, and no introspection is configured (--oauth-client-id)' };
    if (!metadata.introspectionEndpoint) return { kind: 'unavailable', reason: `identity provider ${this.#settings.issuer}: its discovery document names no introspection_endpoint` };
    return this.#introspection.verify(token, metadata.introspectionEndpoint);
  }



  /** The issuer's key set, fetched on demand by jose; a failure to fetch it is told apart from a token's fault. */
  #keysOf(metadata: IssuerMetadata): JWTVerifyGetKey {
    if (this.#keys?.uri !== metadata.jwksUri.href) {
      const remote = createRemoteJWKSet(metadata.jwksUri, { timeoutDuration: this.#settings.deadlineMs, cooldownDuration: this.#settings.refreshMs, cacheMaxAge: KEYS_MAX_AGE_MS });
      const get: JWTVerifyGetKey = async (header, token) => {
        try {
          return await remote(header, token);
        } catch (error) {
          if (error instanceof errors.JOSEError && TOKEN_KEY_ERRORS.has(error.code)) throw error;
          throw new KeysUnavailable(error instanceof errors.JWKSTimeout ? `no key set within ${this.#settings.deadlineMs} ms` : `cannot read its key set: ${(error as Error).message}`);
        }
      };
      this.#keys = { uri: metadata.jwksUri.href, get };
    }
    return this.#keys.get;
  }
}

/** Why jose refused a token, in the daemon's words (never the token). */
function refusalReason(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `the token's ${error.claim} claim is not accepted (${error.reason})`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the token signature does not verify';
  if (error instanceof errors.JWKSNoMatchingKey) return 'the token is signed by a key the issuer does not publish';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the token is signed with an algorithm the issuer does not list';
  if (error instanceof errors.JOSEError) return `the token is not a valid JWT (${error.code})`;
  if (error instanceof IssuerUnavailable) return error.message;
  return 'the token is not a valid JWT';
}
