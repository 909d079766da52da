/**
 * The outcome -> reply table, the daemon's safety core: every lookup result
 * crossed with every verdict, on scripted inputs (no database, no worker
 * threads). The MySQL backend's own tests drive the same paths against a real
 * server, and the server tests through the real process.
 */
import { describe, expect, it, vi } from 'vitest';
import { Authenticator } from '../../src/auth/authenticator.js';
import { muxReply } from '../../src/auth/mux-reply.js';
import type { Backend, LookupResult } from '../../src/backends/backend.js';
import { ErrorCodes, type ErrorCode } from '../../src/errors.js';
import type { Verdict, Verifier } from '../../src/crypt/verifier.js';
import { CachingVerifier } from '../../src/cache/caching-verifier.js';
import { PasswordDigester } from '../../src/cache/password-digest.js';
import { CredentialCache } from '../../src/cache/credential-cache.js';
import { loginRequest, ROOM } from '../helpers/login-request.js';
import type { LoginRequest } from '../../src/protocol/request.js';
import { logSink } from '../helpers/log-sink.js';

const OK = { kind: 'answer', text: 'OK' };
const NO = { kind: 'answer', text: 'NO authentication failed' };
const NO_ANSWER = { kind: 'no-answer' };

type Lookup = 'found' | 'unknown' | 'refused' | 'misconfigured' | 'unavailable' | 'throws';
const LOOKUPS: Record<Lookup, () => Promise<LookupResult>> = {
  found: async () => ({ status: 'found', candidates: [{ stored: '$1$stored$value', role: 'password' }] }),
  unknown: async () => ({ status: 'unknown' }),
  refused: async () => ({ status: 'refused', code: ErrorCodes.EMPTY_STORED_PASSWORD, reason: 'the stored password is empty' }),
  misconfigured: async () => ({ status: 'misconfigured', code: ErrorCodes.AMBIGUOUS_USER, reason: 'two rows' }),
  unavailable: async () => ({ status: 'unavailable', code: ErrorCodes.BACKEND_UNAVAILABLE, reason: 'connection refused' }),
  throws: async () => {
    throw new Error('socket hang up');
  },
};

type VerdictName = Verdict['status'];
const VERDICTS: Record<VerdictName, Verdict> = {
  match: { status: 'match', scheme: 'MD5-CRYPT' },
  mismatch: { status: 'mismatch', scheme: 'MD5-CRYPT' },
  unsupported: { status: 'unsupported', scheme: 'CRYPT', reason: 'crypt scheme $7$ is not supported' },
  malformed: { status: 'malformed', scheme: 'MD5-CRYPT', reason: 'stored MD5-CRYPT value is malformed' },
  locked: { status: 'locked', scheme: 'LOCKED', reason: 'the stored value is a lock marker' },
  overloaded: { status: 'overloaded', scheme: 'MD5-CRYPT' },
  abandoned: { status: 'abandoned', scheme: 'MD5-CRYPT' },
  'over-ceiling': { status: 'over-ceiling', scheme: 'BLF-CRYPT', reason: 'bcrypt cost 31 is above the ceiling 14' },
};

/** A verifier that answers what it is told and counts what it was asked. */
function scriptedVerifier(verdict: Verdict) {
  const calls = { verify: 0, dummy: 0 };
  const verifier: Verifier = {
    verify: async () => {
      calls.verify += 1;
      return verdict;
    },
    verifyDummy: async () => {
      calls.dummy += 1;
    },
  };
  return { verifier, calls };
}

function request(password = 'demo'): LoginRequest {
  return loginRequest({ login: 'demo', password, realm: 'example.org', service: '' });
}

function authenticator(lookup: Backend['lookup'], verifier: Verifier, cacheEntries = 0) {
  const sink = logSink();
  const auth = new Authenticator({
    backend: { mechanism: 'scripted', lookup },
    realm: { joinRealm: true, lowercase: false },
    passwords: new CachingVerifier(verifier, cacheEntries, new PasswordDigester()),
    logger: sink.logger,
  });
  return { auth, sink };
}

/** [lookup, verdict, reply, code, hashes spent (real or dummy)] */
const TABLE: Array<[Lookup, VerdictName | 'any', object, ErrorCode | undefined, 'verify' | 'dummy' | 'none']> = [
  ['found', 'match', OK, undefined, 'verify'],
  ['found', 'mismatch', NO, ErrorCodes.WRONG_PASSWORD, 'verify'],
  ['found', 'unsupported', NO_ANSWER, ErrorCodes.UNSUPPORTED_SCHEME, 'verify'],
  ['found', 'malformed', NO_ANSWER, ErrorCodes.MALFORMED_STORED_VALUE, 'verify'],
  ['found', 'locked', NO, ErrorCodes.ACCOUNT_LOCKED, 'verify'],
  ['found', 'overloaded', NO_ANSWER, ErrorCodes.VERIFY_OVERLOADED, 'verify'],
  ['found', 'abandoned', NO_ANSWER, ErrorCodes.ABANDONED, 'verify'],
  ['found', 'over-ceiling', NO_ANSWER, ErrorCodes.COST_CEILING, 'verify'],
  ['unknown', 'any', NO, ErrorCodes.UNKNOWN_USER, 'dummy'],
  ['refused', 'any', NO, ErrorCodes.EMPTY_STORED_PASSWORD, 'dummy'],
  ['misconfigured', 'any', NO_ANSWER, ErrorCodes.AMBIGUOUS_USER, 'none'],
  ['unavailable', 'any', NO_ANSWER, ErrorCodes.BACKEND_UNAVAILABLE, 'none'],
  ['throws', 'any', NO_ANSWER, ErrorCodes.BACKEND_UNAVAILABLE, 'none'],
];

const ROWS = TABLE.flatMap(([lookup, verdict, reply, code, spent]) =>
  (verdict === 'any' ? (Object.keys(VERDICTS) as VerdictName[]) : [verdict]).map((name) => [lookup, name, reply, code, spent] as const),
);

describe('Authenticator: lookup result x verdict -> reply and code', () => {
  it.each(ROWS)('%s, %s -> %o %s', async (lookup, verdictName, reply, code, spent) => {
    const { verifier, calls } = scriptedVerifier(VERDICTS[verdictName]);
    const { auth, sink } = authenticator(LOOKUPS[lookup], verifier);
    const decision = await auth.authenticate(request(), new AbortController(), ROOM);
    const { outcome } = decision;
    expect(muxReply(decision)).toEqual(reply);
    expect(outcome.code).toBe(code);
    expect(calls).toEqual({ verify: spent === 'verify' ? 1 : 0, dummy: spent === 'dummy' ? 1 : 0 });
    const [event, ...more] = sink.authEvents();
    expect(more).toEqual([]);
    // Temporary failures are errors (50); failures info (30); successes debug, so not in this sink.
    if (outcome.result === 'temporary-failure') expect(event).toMatchObject({ level: 50, code });
    if (outcome.result === 'failure') expect(event).toMatchObject({ level: 30, code, user: 'demo@example.org' });
  });

  it('logs what a throwing backend said, as a temporary failure', async () => {
    const { auth, sink } = authenticator(LOOKUPS.throws, scriptedVerifier(VERDICTS.match).verifier);
    await auth.authenticate(request(), new AbortController(), ROOM);
    expect(sink.authEvents()[0]).toMatchObject({ result: 'temporary-failure', reason: 'backend unavailable: socket hang up' });
  });

  it('logs a refusal with its own code and reason', async () => {
    const { auth, sink } = authenticator(LOOKUPS.refused, scriptedVerifier(VERDICTS.match).verifier);
    await auth.authenticate(request(), new AbortController(), ROOM);
    expect(sink.authEvents()[0]).toMatchObject({ result: 'failure', code: ErrorCodes.EMPTY_STORED_PASSWORD, reason: 'the stored password is empty' });
  });

  it('asks the backend for the -r joined name', async () => {
    let asked = '';
    const { auth } = authenticator(async (query) => {
      asked = query.user;
      return { status: 'unknown' };
    }, scriptedVerifier(VERDICTS.match).verifier);
    await auth.authenticate(request(), new AbortController(), ROOM);
    expect(asked).toBe('demo@example.org');
  });

  it('answers a repeat from the never-stale caches with the verdict the hash gave, without hashing again', async () => {
    for (const [name, cache] of [['match', 'verified'], ['mismatch', 'rejected']] as const) {
      const { verifier, calls } = scriptedVerifier(VERDICTS[name]);
      const { auth } = authenticator(LOOKUPS.found, verifier, 10);
      const first = await auth.authenticate(request(), new AbortController(), ROOM);
      const second = await auth.authenticate(request(), new AbortController(), ROOM);
      expect(muxReply(second)).toEqual(muxReply(first));
      expect(second.outcome).toMatchObject({ result: first.outcome.result, cache });
      expect(calls.verify).toBe(1);
    }
  });

  it('never caches a temporary failure: the next login asks the verifier again', async () => {
    const { verifier, calls } = scriptedVerifier(VERDICTS.overloaded);
    const { auth } = authenticator(LOOKUPS.found, verifier, 10);
    await auth.authenticate(request(), new AbortController(), ROOM);
    await auth.authenticate(request(), new AbortController(), ROOM);
    expect(calls.verify).toBe(2);
  });

  it('counts a success answered by the never-stale cache as a recent success for the outage cache', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      let up = true;
      const digester = new PasswordDigester();
      const { verifier, calls } = scriptedVerifier(VERDICTS.match);
      const auth = new Authenticator({
        backend: { mechanism: 'scripted', lookup: async () => (up ? LOOKUPS.found() : LOOKUPS.unavailable()) },
        realm: { joinRealm: true, lowercase: false },
        passwords: new CachingVerifier(verifier, 10, digester),
        outageCache: new CredentialCache(10, 1000, digester),
        logger: logSink().logger,
      });
      expect((await auth.authenticate(request(), new AbortController(), ROOM)).outcome.result).toBe('success');
      vi.advanceTimersByTime(800);
      expect((await auth.authenticate(request(), new AbortController(), ROOM)).outcome).toMatchObject({ result: 'success', cache: 'verified' });
      expect(calls.verify).toBe(1);
      // 1.6 s after the first login and 0.8 s after the last one, the database goes away.
      vi.advanceTimersByTime(800);
      up = false;
      expect((await auth.authenticate(request(), new AbortController(), ROOM)).outcome).toMatchObject({ result: 'success', cache: 'outage' });
      expect((await auth.authenticate(request('wrong'), new AbortController(), ROOM)).outcome).toMatchObject({ result: 'temporary-failure' });
    } finally {
      vi.useRealTimers();
    }
  });
});
