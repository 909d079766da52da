/**
 * login + realm -> lookup key, through the one reader every request and
 * `saslauthd-mysql check` go through (auth/read-request.ts).
 */
import { describe, expect, it } from 'vitest';
import type { RealmPolicy } from '../../src/realm/login-key.js';
import { readRequest } from '../../src/auth/read-request.js';
import { ErrorCodes } from '../../src/errors.js';

const b = (text: string) => Buffer.from(text, 'utf8');
const plain: RealmPolicy = { joinRealm: false, lowercase: false };
const join: RealmPolicy = { joinRealm: true, lowercase: false };

function key(login: string | Buffer, realm: string | Buffer, policy: RealmPolicy) {
  const read = readRequest({ listener: 'mux', login: typeof login === 'string' ? b(login) : login, realm: typeof realm === 'string' ? b(realm) : realm, service: b('smtp') }, policy, 'test');
  return read.ok ? { user: read.query.user, realm: read.query.realm } : { ok: false, user: read.names.user, code: read.refusal.code, reason: read.refusal.reason };
}

const withDefault: RealmPolicy = { joinRealm: true, lowercase: false, defaultRealm: 'example.org' };

describe('login + realm -> lookup key', () => {
  it.each<[string, string, string, RealmPolicy, { user: string; realm: string }]>([
    // saslauthd -r joining
    ['joins login@realm when the realm is not empty, and keeps the realm', 'md5', 'example.org', join, { user: 'md5@example.org', realm: 'example.org' }],
    ['leaves the login alone when the realm is empty', 'bare', '', join, { user: 'bare', realm: '' }],
    ['joins what libsasl2 split at the last @ back together', 'a@b', 'example.org', join, { user: 'a@b@example.org', realm: 'example.org' }],
    ['without -r, looks up the login as sent and still passes the realm', 'md5', 'example.org', plain, { user: 'md5', realm: 'example.org' }],
    // --default-realm
    ['a default realm fills in an empty realm', 'bare', '', withDefault, { user: 'bare@example.org', realm: 'example.org' }],
    ['a default realm does not touch a realm the client sent', 'alice', 'other.net', withDefault, { user: 'alice@other.net', realm: 'other.net' }],
    ['a default realm does not touch a login that already names its domain', 'alice@other.net', '', withDefault, { user: 'alice@other.net', realm: '' }],
    // --lowercase
    ['lower-cases login and realm when asked', 'Alice', 'Example.ORG', { ...join, lowercase: true }, { user: 'alice@example.org', realm: 'example.org' }],
    ['keeps case by default', 'Alice', 'Example.ORG', join, { user: 'Alice@Example.ORG', realm: 'Example.ORG' }],
  ])('%s', (_, login, realm, policy, expected) => {
    expect(key(login, realm, policy)).toEqual(expected);
  });
});

describe('names that are refused', () => {
  it.each([
    ['NUL', 'ali\u0000ce'],
    ['newline (log injection)', 'alice\nauth success: [user=root]'],
    ['carriage return', 'alice\r'],
    ['tab', 'al\tice'],
    ['DEL', 'alice\u007f'],
    ['a C1 control', 'alice\u0085'],
  ])('refuses a login with %s', (_name, login) => {
    expect(key(login, 'example.org', join)).toMatchObject({ ok: false, code: ErrorCodes.INVALID_LOGIN, reason: 'invalid login: control-character' });
  });

  it('refuses a realm with control characters', () => {
    expect(key('alice', 'example.org\n', join)).toMatchObject({ ok: false, code: ErrorCodes.INVALID_LOGIN, reason: 'invalid realm: control-character' });
  });

  it('refuses bytes that are not UTF-8, and shows them escaped', () => {
    const result = key(Buffer.from([0x61, 0xff, 0x0a]), '', join);
    expect(result).toMatchObject({ ok: false, reason: 'invalid login: invalid-utf8', user: 'a\\xff\\x0a' });
  });

  it('accepts non-ASCII names', () => {
    expect(key('jörg', 'bücher.example', join)).toEqual({ user: 'jörg@bücher.example', realm: 'bücher.example' });
  });
});
