/**
 * The outcome -> reply table, the daemon's safety core. A scripted backend
 * stands in for the outages and refusals a passwd-file cannot produce; the
 * MySQL backend's own tests drive the same paths against a real server.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Authenticator } from '../../src/auth/authenticator.js';
import type { Backend, LookupResult } from '../../src/backends/backend.js';
import { RequestDecoder, type AuthRequest } from '../../src/protocol/codec.js';
import { ErrorCodes } from '../../src/errors.js';
import { requestFrame } from '../helpers/index.js';
import { logSink } from '../helpers/log-sink.js';
import { DEMO_HASH } from '../helpers/daemon.js';
import { PasswordVerifier } from '../../src/crypt/verifier.js';
import { VerifyPools } from '../../src/crypt/verify-pool.js';

const pool = new VerifyPools({ threads: 1, maxQueue: 10 });
afterAll(() => pool.close());
const verifier = new PasswordVerifier({ defaultScheme: 'crypt', pools: pool });

function scripted(answer: () => Promise<LookupResult>): Backend {
  return { mechanism: 'scripted', lookup: answer, close: async () => undefined };
}

function request(password = 'demo'): AuthRequest {
  const result = new RequestDecoder().push(requestFrame({ login: 'demo', password, realm: 'example.org' }));
  if (result.status !== 'complete') throw new Error('bad frame');
  return result.request;
}

async function run(backend: Backend, password?: string) {
  const sink = logSink();
  const authenticator = new Authenticator({ backend, realm: { joinRealm: true, lowercase: false }, verifier, logger: sink.logger });
  const reply = await authenticator.authenticate(request(password), new AbortController());
  return { reply, events: sink.authEvents() };
}

describe('Authenticator', () => {
  it('answers OK only when the password verifies', async () => {
    const found = scripted(async () => ({ status: 'found', storedHash: DEMO_HASH }));
    expect((await run(found, 'demo')).reply).toEqual({ kind: 'answer', text: 'OK' });
    expect((await run(found, 'Demo')).reply).toEqual({ kind: 'answer', text: 'NO authentication failed' });
  });

  it('closes without a reply when the backend reports it is unavailable: never NO, never OK', async () => {
    const { reply, events } = await run(scripted(async () => ({ status: 'unavailable', code: ErrorCodes.BACKEND_UNAVAILABLE, reason: 'connection refused' })));
    expect(reply).toEqual({ kind: 'no-answer' });
    expect(events).toEqual([expect.objectContaining({ result: 'temporary-failure', code: ErrorCodes.BACKEND_UNAVAILABLE, level: 50 })]);
  });

  it('closes without a reply when the backend throws', async () => {
    const { reply, events } = await run(
      scripted(async () => {
        throw new Error('socket hang up');
      }),
    );
    expect(reply).toEqual({ kind: 'no-answer' });
    expect(events[0]).toMatchObject({ result: 'temporary-failure', reason: 'backend unavailable: socket hang up' });
  });

  it('answers NO for a refusal, logging its code', async () => {
    const { reply, events } = await run(scripted(async () => ({ status: 'refused', code: ErrorCodes.AMBIGUOUS_USER, reason: 'two rows' })));
    expect(reply).toEqual({ kind: 'answer', text: 'NO authentication failed' });
    expect(events[0]).toMatchObject({ result: 'failure', code: ErrorCodes.AMBIGUOUS_USER, reason: 'two rows' });
  });

  it('turns a full verification queue into a temporary failure, never a NO', async () => {
    // htpasswd -bnBC 12 u demo
    const slow = scripted(async () => ({ status: 'found', storedHash: '$2y$12$eMwQZhYgwUBLOY8FkEJqS.SFD9z8P44g2XL8EVRORFj38aNCZvcsu' }));
    const tiny = new VerifyPools({ threads: 1, maxQueue: 1 });
    try {
      const sink = logSink();
      const authenticator = new Authenticator({ backend: slow, realm: { joinRealm: true, lowercase: false }, verifier: new PasswordVerifier({ defaultScheme: 'crypt', pools: tiny }), logger: sink.logger });
      const replies = await Promise.all(Array.from({ length: 5 }, () => authenticator.authenticate(request('demo'), new AbortController())));
      expect(replies).toContainEqual({ kind: 'answer', text: 'OK' });
      expect(replies).toContainEqual({ kind: 'no-answer' });
      expect(replies.filter((r) => r.kind === 'answer' && r.text !== 'OK')).toEqual([]);
      expect(sink.authEvents().some((e) => e.code === ErrorCodes.VERIFY_OVERLOADED && e.result === 'temporary-failure')).toBe(true);
    } finally {
      await tiny.close();
    }
  });

  it('asks the backend for the -r joined name', async () => {
    let asked = '';
    const backend: Backend = {
      mechanism: 'scripted',
      lookup: async (query) => {
        asked = query.user;
        return { status: 'unknown' };
      },
      close: async () => undefined,
    };
    await run(backend);
    expect(asked).toBe('demo@example.org');
  });
});
