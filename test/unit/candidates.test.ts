/**
 * Several stored values per login (a password and app passwords): every one
 * verified, whichever matched; the verdict that says most when none did; the
 * value that let the login in decides what happens next (a refusal, a re-hash).
 */
import { describe, expect, it } from 'vitest';
import { Authenticator, type SuccessfulPassword } from '../../src/auth/authenticator.js';
import type { Candidate, LookupResult } from '../../src/backends/backend.js';
import { CachingVerifier } from '../../src/cache/caching-verifier.js';
import { CredentialCache } from '../../src/cache/credential-cache.js';
import { PasswordDigester } from '../../src/cache/password-digest.js';
import { candidatesKey, combine, verifyCandidates } from '../../src/crypt/candidates.js';
import type { Verdict, Verifier } from '../../src/crypt/verifier.js';
import { ErrorCodes } from '../../src/errors.js';
import { loginRequest, ROOM } from '../helpers/login-request.js';
import { logSink } from '../helpers/log-sink.js';

/** Matches when the stored value is "{PLAIN}" + the password; records every value it was asked about. */
function plainVerifier() {
  const asked: string[] = [];
  const verifier: Verifier = {
    verify: async (password, stored) => {
      asked.push(stored);
      if (stored.startsWith('!')) return { status: 'locked', scheme: 'LOCKED', reason: 'lock marker' };
      if (stored.startsWith('{BROKEN}')) return { status: 'malformed', scheme: 'BROKEN', reason: 'damaged' };
      return { status: stored === `{PLAIN}${password.toString()}` ? 'match' : 'mismatch', scheme: 'PLAIN' };
    },
    verifyDummy: async () => undefined,
  };
  return { verifier, asked };
}

const mismatch: Verdict = { status: 'mismatch', scheme: 'PLAIN' };

describe('verifyCandidates', () => {
  it('verifies every value, whichever matched, and says which matched', async () => {
    const { verifier, asked } = plainVerifier();
    const values = ['{PLAIN}main', '{PLAIN}phone', '{PLAIN}laptop', '{PLAIN}phone'];
    for (const password of ['main', 'phone', 'laptop', 'nothing']) {
      asked.length = 0;
      const verdict = await verifyCandidates(verifier, Buffer.from(password), values, {});
      expect(asked, password).toEqual(values);
      expect(verdict.status === 'match' ? verdict.matched : verdict.status, password).toEqual({ main: [0], phone: [1, 3], laptop: [2], nothing: 'mismatch' }[password]);
    }
  });

  it('says no when a value was checked and none matched, whatever the others were; never lets an unreadable value make a guess free', () => {
    const overloaded: Verdict = { status: 'overloaded', scheme: 'BLF-CRYPT' };
    const malformed: Verdict = { status: 'malformed', scheme: 'MD5-CRYPT', reason: 'damaged' };
    const unsupported: Verdict = { status: 'unsupported', scheme: 'CRAM-MD5', reason: 'not read here' };
    const locked: Verdict = { status: 'locked', scheme: 'LOCKED', reason: 'lock' };
    // Checked and no match: no, a lock first.
    expect(combine([mismatch, unsupported])).toEqual(mismatch);
    expect(combine([unsupported, malformed, mismatch])).toEqual(mismatch);
    expect(combine([mismatch, locked, malformed]).status).toBe('locked');
    expect(combine([locked, mismatch]).status).toBe('locked');
    expect(combine([mismatch, mismatch]).status).toBe('mismatch');
    // Checked, but another could not be now: undecided, and the guess was tried.
    expect(combine([mismatch, malformed, overloaded])).toEqual({ ...overloaded, evaluated: true });
    // Nothing checked: what could not be checked now, else the value to fix.
    expect(combine([malformed, overloaded])).toEqual(overloaded);
    expect(combine([unsupported, malformed]).status).toBe('unsupported');
    expect(combine([malformed, { status: 'match', scheme: 'PLAIN' }])).toEqual({ status: 'match', scheme: 'PLAIN', matched: [1] });
  });

  it('gives each set of values its own cache key, and a single value itself', () => {
    expect(candidatesKey(['$1$a$b'])).toBe('$1$a$b');
    const keys = [['a', 'b'], ['ab'], ['a', 'b', ''], ['b', 'a'], ['1:a', 'b']].map(candidatesKey);
    expect(new Set(keys).size).toBe(keys.length);
  });
});

function request(password: string) {
  return loginRequest({ login: 'demo@example.org', password, realm: '', service: '' });
}

function harness(candidates: readonly Candidate[], options: { cache?: boolean; verifyCache?: number } = {}) {
  const { verifier, asked } = plainVerifier();
  const rehashed: SuccessfulPassword[] = [];
  const sink = logSink();
  const digester = new PasswordDigester();
  const found: LookupResult = { status: 'found', candidates, user: 'demo@example.org' };
  const auth = new Authenticator({
    backend: { mechanism: 'scripted', lookup: async () => found },
    realm: { joinRealm: true, lowercase: false },
    passwords: new CachingVerifier(verifier, options.verifyCache ?? 0, digester),
    logger: sink.logger,
    rehash: { consider: (success) => rehashed.push({ ...success, password: Buffer.from(success.password) }) },
    ...(options.cache ? { credentialCache: new CredentialCache(100, 60_000, digester) } : {}),
  });
  const login = async (password: string) => (await auth.authenticate(request(password), { signal: AbortSignal.timeout(5000) }, ROOM)).outcome;
  return { login, asked, rehashed, sink };
}

const expired = { code: ErrorCodes.PASSWORD_EXPIRED, reason: 'password expired' };

describe('Authenticator with several values', () => {
  it('lets in any value that matched and is not refused', async () => {
    const { login } = harness([{ stored: '{PLAIN}main', role: 'password' }, { stored: '{PLAIN}phone', role: 'app-password' }]);
    expect((await login('main')).result).toBe('success');
    expect((await login('phone')).result).toBe('success');
    expect(await login('other')).toMatchObject({ result: 'failure', code: ErrorCodes.WRONG_PASSWORD });
  });

  it('refuses a right password whose value is refused, with that refusal as the reason; another value still works', async () => {
    const { login } = harness([{ stored: '{PLAIN}main', role: 'password', refusal: expired }, { stored: '{PLAIN}phone', role: 'app-password' }]);
    expect(await login('main')).toMatchObject({ result: 'failure', code: ErrorCodes.PASSWORD_EXPIRED, reason: 'password expired (the password was right)' });
    expect((await login('phone')).result).toBe('success');
  });

  it('a damaged app password does not make a wrong password free to try: it is a "no" like any other; the right one still works', async () => {
    const { login } = harness([{ stored: '{PLAIN}main', role: 'password' }, { stored: '{BROKEN}x', role: 'app-password' }]);
    expect((await login('main')).result).toBe('success');
    expect(await login('other')).toMatchObject({ result: 'failure', code: ErrorCodes.WRONG_PASSWORD });
  });

  it('a row with nothing that can be checked is a temporary failure that still counts as a guess', async () => {
    const { login } = harness([{ stored: '{BROKEN}x', role: 'password' }]);
    expect(await login('anything')).toMatchObject({ result: 'temporary-failure', code: ErrorCodes.MALFORMED_STORED_VALUE, countsAsGuess: true });
  });

  it('offers only successes with the account\'s own password for re-hashing: not app passwords, not failures, not -c answers', async () => {
    const { login, rehashed, sink } = harness([{ stored: '{PLAIN}main', role: 'password' }, { stored: '{PLAIN}phone', role: 'app-password' }], { cache: true });
    await login('phone');
    await login('wrong');
    expect(rehashed).toEqual([]);
    await login('main');
    expect(rehashed).toEqual([{ user: 'demo@example.org', stored: '{PLAIN}main', scheme: 'PLAIN', password: Buffer.from('main') }]);
    await login('main');
    expect(sink.authEvents().at(-1)?.cache).toBe('credential');
    expect(rehashed).toHaveLength(1);
  });

  it('never offers an outage-cache answer for re-hashing', async () => {
    const { verifier } = plainVerifier();
    const rehashed: SuccessfulPassword[] = [];
    const digester = new PasswordDigester();
    let up = true;
    const auth = new Authenticator({
      backend: {
        mechanism: 'scripted',
        lookup: async () => (up ? { status: 'found', candidates: [{ stored: '{PLAIN}main', role: 'password' }], user: 'demo@example.org' } : { status: 'unavailable', code: ErrorCodes.BACKEND_UNAVAILABLE, reason: 'down' }),
      },
      realm: { joinRealm: true, lowercase: false },
      passwords: new CachingVerifier(verifier, 0, digester),
      logger: logSink().logger,
      outageCache: new CredentialCache(100, 60_000, digester),
      rehash: { consider: (success) => rehashed.push(success) },
    });
    expect((await auth.authenticate(request('main'), { signal: AbortSignal.timeout(5000) }, ROOM)).outcome.result).toBe('success');
    up = false;
    expect((await auth.authenticate(request('main'), { signal: AbortSignal.timeout(5000) }, ROOM)).outcome).toMatchObject({ result: 'success', cache: 'outage' });
    expect(rehashed).toHaveLength(1);
  });

  it('the verified cache answers each device\'s password against an unchanged set', async () => {
    const candidates: Candidate[] = [{ stored: '{PLAIN}main', role: 'password' }, { stored: '{PLAIN}phone', role: 'app-password' }, { stored: '{PLAIN}laptop', role: 'app-password' }];
    const { login, asked, sink } = harness(candidates, { verifyCache: 100 });
    for (const password of ['main', 'phone', 'laptop']) await login(password);
    asked.length = 0;
    for (const password of ['laptop', 'main', 'phone']) {
      expect((await login(password)).result, password).toBe('success');
      expect(sink.authEvents().at(-1)?.cache, password).toBe('verified');
    }
    expect(asked).toEqual([]);
  });

  it('a cached match is still judged by the refusal the lookup says now', async () => {
    const candidates: Candidate[] = [{ stored: '{PLAIN}main', role: 'password', refusal: expired }];
    const { login, sink } = harness(candidates, { verifyCache: 100 });
    expect((await login('main')).code).toBe(ErrorCodes.PASSWORD_EXPIRED);
    expect(await login('main')).toMatchObject({ result: 'failure', code: ErrorCodes.PASSWORD_EXPIRED, cache: 'verified' });
    expect(sink.authEvents()).toHaveLength(2);
  });
});
