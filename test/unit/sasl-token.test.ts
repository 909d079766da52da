import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_TOKEN_BYTES, readTokenMessage, tokenErrorChallenge, type TokenMechanism } from '../../src/protocol/sasl-token.js';

const A = '\x01';
const read = (mechanism: TokenMechanism, text: string) => readTokenMessage(mechanism, Buffer.from(text, 'latin1'));
const ok = (authzid: string | undefined, token: string) => ({ ok: true, authzid: authzid === undefined ? undefined : Buffer.from(authzid), token: Buffer.from(token) });

describe('OAUTHBEARER messages (RFC 7628)', () => {
  it("reads RFC 7628's own example, and the fields clients send besides auth=", () => {
    // RFC 7628 section 4.1
    expect(read('OAUTHBEARER', `n,a=user@example.com,${A}host=server.example.com${A}port=143${A}auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==${A}${A}`)).toEqual(
      ok('user@example.com', 'vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=='),
    );
    // curl sends no host or port, and "y" when it could have bound a channel
    expect(read('OAUTHBEARER', `y,a=alice@example.org,${A}auth=Bearer abc.def.ghi${A}${A}`)).toEqual(ok('alice@example.org', 'abc.def.ghi'));
    expect(read('OAUTHBEARER', `n,,${A}auth=bearer  tok_en-1~+/${A}${A}`)).toEqual(ok(undefined, 'tok_en-1~+/'));
  });

  it('unescapes the authorization identity and refuses a bad escape', () => {
    expect(read('OAUTHBEARER', `n,a=odd=2Cname=3Dx@example.org,${A}auth=Bearer t${A}${A}`)).toEqual(ok('odd,name=x@example.org', 't'));
    expect(read('OAUTHBEARER', `n,a=bad=name@example.org,${A}auth=Bearer t${A}${A}`)).toMatchObject({ ok: false, status: 'invalid_request' });
  });

  it.each([
    ['no gs2 header', `auth=Bearer t${A}${A}`, 'invalid_request'],
    ['channel binding', `p=tls-unique,a=u,${A}auth=Bearer t${A}${A}`, 'invalid_request'],
    ['an unknown flag', `x,a=u,${A}auth=Bearer t${A}${A}`, 'invalid_request'],
    ['a second field other than a=', `n,b=u,${A}auth=Bearer t${A}${A}`, 'invalid_request'],
    ['no separator after the header', `n,a=u,auth=Bearer t${A}${A}`, 'invalid_request'],
    ['one final separator missing', `n,a=u,${A}auth=Bearer t${A}`, 'invalid_request'],
    ['a pair without =', `n,a=u,${A}auth${A}${A}`, 'invalid_request'],
    ['a key that is not letters', `n,a=u,${A}au-th=Bearer t${A}${A}`, 'invalid_request'],
    ['two auth= pairs', `n,a=u,${A}auth=Bearer t${A}auth=Bearer u${A}${A}`, 'invalid_request'],
    ['no auth=', `n,a=u,${A}host=x${A}${A}`, 'invalid_token'],
    ['the client response to an error alone', A, 'invalid_request'],
    ['a scheme other than Bearer', `n,a=u,${A}auth=Basic dTpw${A}${A}`, 'invalid_token'],
    ['a token with a space', `n,a=u,${A}auth=Bearer a b${A}${A}`, 'invalid_token'],
    ['a token with a control character', `n,a=u,${A}auth=Bearer a\tb${A}${A}`, 'invalid_token'],
    ['an empty token', `n,a=u,${A}auth=Bearer ${A}${A}`, 'invalid_token'],
    ['padding in the middle', `n,a=u,${A}auth=Bearer ab=cd${A}${A}`, 'invalid_token'],
  ])('refuses %s', (_what, text, status) => {
    expect(read('OAUTHBEARER', text)).toMatchObject({ ok: false, status });
  });

  it('refuses a token past its bound, and takes one at it', () => {
    const at = 'a'.repeat(MAX_TOKEN_BYTES);
    expect(read('OAUTHBEARER', `n,a=u,${A}auth=Bearer ${at}${A}${A}`)).toEqual(ok('u', at));
    expect(read('OAUTHBEARER', `n,a=u,${A}auth=Bearer ${at}a${A}${A}`)).toMatchObject({ ok: false, status: 'invalid_token' });
  });

  it('overwrites the message it read', () => {
    const message = Buffer.from(`n,a=u,${A}auth=Bearer secret-token${A}${A}`);
    const read = readTokenMessage('OAUTHBEARER', message);
    expect(read).toEqual(ok('u', 'secret-token'));
    expect(message.every((byte) => byte === 0)).toBe(true);
  });
});

describe('XOAUTH2 messages', () => {
  it("reads Google's form", () => {
    expect(read('XOAUTH2', `user=someuser@example.com${A}auth=Bearer vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==${A}${A}`)).toEqual(
      ok('someuser@example.com', 'vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg=='),
    );
  });

  it.each([
    ['no user=', `auth=Bearer t${A}${A}`, 'invalid_request'],
    ['an empty user=', `user=${A}auth=Bearer t${A}${A}`, 'invalid_request'],
    ['no auth=', `user=u${A}${A}`, 'invalid_token'],
    ['no final separators', `user=u${A}auth=Bearer t`, 'invalid_request'],
    ['an empty message', '', 'invalid_request'],
  ])('refuses %s', (_what, text, status) => {
    expect(read('XOAUTH2', text)).toMatchObject({ ok: false, status });
  });
});

describe('the error a refused token gets', () => {
  it("is RFC 7628's JSON for OAUTHBEARER and Google's for XOAUTH2, base64", () => {
    const decode = (b64: string) => JSON.parse(Buffer.from(b64, 'base64').toString()) as unknown;
    expect(decode(tokenErrorChallenge('OAUTHBEARER', 'invalid_token', 'email', 'https://id.example.org/.well-known/openid-configuration'))).toEqual({
      status: 'invalid_token',
      scope: 'email',
      'openid-configuration': 'https://id.example.org/.well-known/openid-configuration',
    });
    expect(decode(tokenErrorChallenge('XOAUTH2', 'invalid_token', 'email', undefined))).toEqual({ status: '401', schemes: 'bearer', scope: 'email' });
    expect(decode(tokenErrorChallenge('XOAUTH2', 'insufficient_scope', 'mail', undefined))).toMatchObject({ status: '403' });
    expect(decode(tokenErrorChallenge('XOAUTH2', 'invalid_request', 'mail', undefined))).toMatchObject({ status: '400' });
  });
});

describe('any bytes at all', () => {
  it('give a token that is a bearer token, or a refusal; never a throw, and the message overwritten', () => {
    const pieces = fc.constantFrom('n', 'y', 'p=x', ',', 'a=', '=2C', '=3D', '=', A, 'auth', 'user', 'Bearer ', 'bearer ', 'tok', '==', ' ', '\x00', 'host=h');
    const messages = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.array(pieces, { maxLength: 14 }).map((parts) => Buffer.from(parts.join(''), 'latin1')));
    fc.assert(
      fc.property(fc.constantFrom<TokenMechanism>('OAUTHBEARER', 'XOAUTH2'), messages, (mechanism, bytes) => {
        const message = Buffer.from(bytes);
        const result = readTokenMessage(mechanism, message);
        expect(message.every((byte) => byte === 0)).toBe(true);
        if (result.ok) expect(result.token.toString('latin1')).toMatch(/^[A-Za-z0-9\-._~+/]+=*$/);
        else expect(['invalid_request', 'invalid_token']).toContain(result.status);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 500) },
    );
  });
});
