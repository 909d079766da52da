/**
 * JWT access tokens checked against a real authorization server on loopback
 * (npm oidc-provider, test/helpers/identity-provider.ts): every refusal the
 * token itself earns, and the provider's absence told apart from them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessTokens, type AccessTokenSettings } from '../../src/oauth/access-tokens.js';
import { afterThisTest } from '../helpers/cleanup.js';
import { signingKey, ThrowawayIdentityProvider, tokenUser } from '../helpers/identity-provider.js';

const ALICE = tokenUser('alice');
const BOB = tokenUser('bob');
/** The daemon's own client, for introspection. */
const SERVICE = tokenUser('mail-service');

let provider: ThrowawayIdentityProvider;

beforeAll(async () => {
  provider = await ThrowawayIdentityProvider.start([ALICE, BOB, SERVICE]);
}, 30_000);

afterAll(async () => {
  await provider?.stop();
});

function tokensFor(issuer: string, overrides: Partial<AccessTokenSettings> = {}): AccessTokens {
  return new AccessTokens({ issuer, audience: 'urn:mail', claim: 'email', clockSkewS: 0, deadlineMs: 1_000, refreshMs: 500, ...overrides });
}

describe('JWT access tokens from a real identity provider', () => {
  it("accepts a token for the mail service and names its user's mailbox", async () => {
    const tokens = tokensFor(provider.issuer);
    expect(await tokens.verify(await provider.token(ALICE))).toEqual({ kind: 'good', identity: 'alice@example.org' });
    expect(await tokens.verify(await provider.token(BOB))).toEqual({ kind: 'good', identity: 'bob@example.org' });
  });

  it('refuses a token for another service, an expired one, and one whose signature was altered', async () => {
    const tokens = tokensFor(provider.issuer);
    expect(await tokens.verify(await provider.token(ALICE, 'urn:other'))).toMatchObject({ kind: 'refused', status: 'invalid_token', reason: expect.stringContaining('aud') as unknown });
    const short = await provider.token(ALICE, 'urn:mail:short');
    // Good but for its age: its one-second life is counted in whole seconds from when it was issued, so a token
    // issued late in a second may already be expired when checked with no skew; with some, it must be good.
    expect(await tokensFor(provider.issuer, { clockSkewS: 30 }).verify(short)).toMatchObject({ kind: 'good' });
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect(await tokens.verify(short)).toMatchObject({ kind: 'refused', reason: 'the token has expired' });
    const [header, payload, signature] = (await provider.token(ALICE)).split('.');
    const altered = `${header}.${payload}.${signature!.slice(0, 10)}${signature![10] === 'A' ? 'B' : 'A'}${signature!.slice(11)}`;
    expect(await tokens.verify(altered)).toMatchObject({ kind: 'refused', reason: 'the token signature does not verify' });
    // The payload changed under the same signature: another user's name written in.
    const forged = Buffer.from(payload!, 'base64url').toString().replace('alice@example.org', 'bob@example.org');
    expect(await tokens.verify(`${header}.${Buffer.from(forged).toString('base64url')}.${signature}`)).toMatchObject({ kind: 'refused', reason: 'the token signature does not verify' });
  }, 15_000);

  it('keeps the clock skew it is given', async () => {
    const short = await provider.token(ALICE, 'urn:mail:short');
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect(await tokensFor(provider.issuer, { clockSkewS: 30 }).verify(short)).toMatchObject({ kind: 'good' });
  }, 10_000);

  it("refuses another issuer's token even when signed with the same key", async () => {
    const other = await ThrowawayIdentityProvider.start([ALICE], { key: provider.key });
    afterThisTest(() => other.stop());
    expect(await tokensFor(provider.issuer).verify(await other.token(ALICE))).toMatchObject({ kind: 'refused', reason: expect.stringContaining('iss') as unknown });
  });

  it('refuses a token without the required scope, or without the claim that names the mailbox', async () => {
    expect(await tokensFor(provider.issuer, { scope: 'mail' }).verify(await provider.token(ALICE))).toMatchObject({ kind: 'good' });
    expect(await tokensFor(provider.issuer, { scope: 'imap' }).verify(await provider.token(ALICE))).toMatchObject({ kind: 'refused', status: 'insufficient_scope' });
    expect(await tokensFor(provider.issuer, { claim: 'preferred_username' }).verify(await provider.token(ALICE))).toMatchObject({ kind: 'refused', reason: 'the token has no preferred_username claim' });
  });

  it('refuses what is not a JWT, an unsigned one, and one signed with HMAC', async () => {
    const tokens = tokensFor(provider.issuer);
    expect(await tokens.verify(await provider.token(ALICE, 'urn:mail:opaque'))).toMatchObject({ kind: 'refused' });
    const [, payload] = (await provider.token(ALICE)).split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    expect(await tokens.verify(none)).toMatchObject({ kind: 'refused' });
    const hs = `${Buffer.from(JSON.stringify({ alg: 'HS256', kid: 'key-1' })).toString('base64url')}.${payload}.c2lnbmF0dXJl`;
    expect(await tokens.verify(hs)).toMatchObject({ kind: 'refused' });
  });

  it('is unavailable, not a refusal, while the provider is stopped or hangs, and verifies again once it is back', async () => {
    const own = await ThrowawayIdentityProvider.start([ALICE]);
    afterThisTest(() => own.stop());
    const token = await own.token(ALICE);
    await own.stop();
    const tokens = tokensFor(own.issuer);
    expect(await tokens.verify(token)).toMatchObject({ kind: 'unavailable' });
    await own.restart();
    own.hang();
    const started = performance.now();
    // Within the retry interval the last failure stands; after it, the hung provider is asked and the deadline ends it.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await tokens.verify(token)).toMatchObject({ kind: 'unavailable', reason: expect.stringContaining('within 1000 ms') as unknown });
    expect(performance.now() - started).toBeLessThan(3_000);
    await own.restart();
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await tokens.verify(token)).toEqual({ kind: 'good', identity: 'alice@example.org' });
  }, 15_000);

  it('fetches the keys again for an unknown key id at most once per refresh interval', async () => {
    const own = await ThrowawayIdentityProvider.start([ALICE]);
    afterThisTest(() => own.stop());
    const tokens = tokensFor(own.issuer, { refreshMs: 60_000 });
    const [, payload, signature] = (await own.token(ALICE)).split('.');
    expect(await tokens.verify(await own.token(ALICE))).toMatchObject({ kind: 'good' });
    const fetched = own.requests.get('/jwks');
    expect(fetched).toBe(1);
    const madeUp = Array.from({ length: 20 }, (_, i) => `${Buffer.from(JSON.stringify({ alg: 'RS256', kid: `made-up-${i}` })).toString('base64url')}.${payload}.${signature}`);
    for (const token of madeUp) expect(await tokens.verify(token)).toMatchObject({ kind: 'refused', reason: 'the token is signed by a key the issuer does not publish' });
    expect(own.requests.get('/jwks')).toBe(fetched);
  });

  it('picks up a rotated signing key without a restart', async () => {
    const own = await ThrowawayIdentityProvider.start([ALICE]);
    afterThisTest(() => own.stop());
    const tokens = tokensFor(own.issuer);
    expect(await tokens.verify(await own.token(ALICE))).toMatchObject({ kind: 'good' });
    await own.restart(await signingKey('key-2'));
    const rotated = await own.token(ALICE);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await tokens.verify(rotated)).toEqual({ kind: 'good', identity: 'alice@example.org' });
  }, 15_000);

  describe('opaque tokens, by introspection', () => {
    const introspecting = (reuseMs: number, issuer = provider.issuer) => tokensFor(issuer, { introspection: { clientId: SERVICE.clientId, clientSecret: SERVICE.clientSecret, reuseMs } });

    it("accepts an active token for the mail service and names its user's mailbox; refuses one for another service, an expired one, a made-up one", async () => {
      const tokens = introspecting(0);
      expect(await tokens.verify(await provider.token(ALICE, 'urn:mail:opaque'))).toEqual({ kind: 'good', identity: 'alice@example.org' });
      expect(await tokens.verify(await provider.token(ALICE, 'urn:other:opaque'))).toMatchObject({ kind: 'refused', reason: expect.stringContaining('aud') as unknown });
      const short = await provider.token(ALICE, 'urn:mail:opaque:short');
      await new Promise((resolve) => setTimeout(resolve, 2_100));
      expect(await tokens.verify(short)).toMatchObject({ kind: 'refused', reason: expect.stringContaining('not active') as unknown });
      expect(await tokens.verify('made-up-opaque-token')).toMatchObject({ kind: 'refused' });
    }, 10_000);

    it('stops accepting a revoked token within the reuse time, and at once with reuse off', async () => {
      const reusing = introspecting(1_000);
      const off = introspecting(0);
      const token = await provider.token(ALICE, 'urn:mail:opaque');
      expect(await reusing.verify(token)).toMatchObject({ kind: 'good' });
      expect(await off.verify(token)).toMatchObject({ kind: 'good' });
      const asked = provider.requests.get('/token/introspection');
      expect(asked).toBeGreaterThan(0);
      expect(await reusing.verify(token)).toMatchObject({ kind: 'good' });
      expect(provider.requests.get('/token/introspection')).toBe(asked);
      await provider.revoke(ALICE, token);
      expect(await off.verify(token)).toMatchObject({ kind: 'refused' });
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expect(await reusing.verify(token)).toMatchObject({ kind: 'refused' });
    }, 10_000);

    it('is unavailable while the provider is stopped or refuses the daemon its answers', async () => {
      const own = await ThrowawayIdentityProvider.start([ALICE, SERVICE]);
      afterThisTest(() => own.stop());
      const token = await own.token(ALICE, 'urn:mail:opaque');
      const wrongSecret = tokensFor(own.issuer, { introspection: { clientId: SERVICE.clientId, clientSecret: 'not-the-secret', reuseMs: 0 } });
      expect(await wrongSecret.verify(token)).toMatchObject({ kind: 'unavailable', reason: expect.stringContaining('HTTP 401') as unknown });
      const tokens = tokensFor(own.issuer, { introspection: { clientId: SERVICE.clientId, clientSecret: SERVICE.clientSecret, reuseMs: 0 } });
      expect(await tokens.verify(token)).toMatchObject({ kind: 'good' });
      await own.stop();
      expect(await tokens.verify(token)).toMatchObject({ kind: 'unavailable' });
    }, 10_000);
  });
});
