/**
 * Dovecot's auth policy on the daemon, posted as Dovecot's auth process posts
 * it (test/helpers/policy-client.ts; test/e2e/dovecot-mail.test.ts runs a real
 * Dovecot against it): one guessing budget for a Dovecot that checks
 * passwords itself and the daemon's own sockets.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startTestDaemon, DEMO_HASH, type TestDaemon } from '../helpers/daemon.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { policyClient, type PolicyClient } from '../helpers/policy-client.js';
import { tempDir } from '../helpers/temp.js';

const SECRET = 'a-policy-secret-of-some-length';

async function withPolicy(flags: Record<string, string> = {}): Promise<TestDaemon & { readonly policy: PolicyClient }> {
  const secretFile = path.join(tempDir(), 'policy.secret');
  writeFileSync(secretFile, SECRET, { mode: 0o600 });
  const started = await startTestDaemon([`alice:${DEMO_HASH}`, `bob:${DEMO_HASH}`], { dovecotPolicyListen: '0', dovecotPolicySecretFile: secretFile, throttleAfter: '5', throttleMaxDelay: '1000', ...flags });
  return { ...started, policy: policyClient(started.daemon.policyPort!, SECRET) };
}

async function smtpLogin(daemon: TestDaemon, login: string, password: string, remote: string): Promise<string | undefined> {
  return (await exchange(daemon.socketPath, requestFrame({ login, password, service: 'smtp', realm: '', clientAddress: `${remote};4711` }), { timeoutMs: 10_000 })).reply;
}

/** A login Dovecot checked and failed: its allow, then its report. */
async function imapFailure(policy: PolicyClient, login: string, password: string, remote: string): Promise<number> {
  const { status } = await policy.allow({ login, password, remote });
  if (status === 0) await policy.report({ login, password, remote }, false);
  return status;
}

describe("Dovecot's auth policy", () => {
  it('refuses requests without the shared secret, and never logs it', async () => {
    const daemon = await withPolicy();
    const body = JSON.stringify({ login: 'alice', remote: '192.0.2.1', protocol: 'imap', tls: false });
    expect((await daemon.policy.post('?command=allow', body, {})).status).toBe(401);
    expect((await daemon.policy.post('?command=allow', body, { 'X-API-Key': `${SECRET}x` })).status).toBe(401);
    expect((await daemon.policy.post('?command=report', body, { 'X-API-Key': SECRET.slice(0, -1) })).status).toBe(401);
    // Dovecot's "Name: value" puts a space before the value: the same secret.
    expect((await daemon.policy.post('?command=allow', body, { 'X-API-Key': ` ${SECRET}` })).status).toBe(200);
    expect(daemon.sink.records().some((record) => record.code === 'ERR_POLICY_UNAUTHORIZED')).toBe(true);
    expect(daemon.sink.raw.join('')).not.toContain(SECRET);
  });

  it("answers only Dovecot's requests, within bounds", async () => {
    const daemon = await withPolicy();
    const good = JSON.stringify({ login: 'alice', remote: '192.0.2.1', protocol: 'imap', tls: false });
    expect((await daemon.policy.post('?command=launch', good)).status).toBe(400);
    expect((await daemon.policy.post('', good)).status).toBe(400);
    expect((await daemon.policy.post('?command=allow', '[1,2]')).status).toBe(400);
    expect((await daemon.policy.post('?command=allow', '{"login": 5}')).status).toBe(400);
    expect((await daemon.policy.post('?command=report', good)).status).toBe(400);
    expect((await daemon.policy.post('?command=allow', '{'.repeat(20) + '}'.repeat(20))).status).toBe(400);
    const huge = JSON.stringify({ login: 'alice', padding: 'x'.repeat(20_000) });
    expect([413, -1]).toContain(await daemon.policy.post('?command=allow', huge).then((r) => r.status, () => -1));
    const get = await fetch(`http://127.0.0.1:${daemon.daemon.policyPort!}/?command=allow`, { headers: { 'X-API-Key': SECRET } });
    expect(get.status).toBe(405);
    // Still serving.
    expect((await daemon.policy.allow({ login: 'alice', password: 'demo', remote: '192.0.2.1' })).status).toBe(0);
    expect(daemon.sink.records().some((record) => record.code === 'ERR_POLICY_MALFORMED')).toBe(true);
  });

  it("counts Dovecot's failures where SMTP's are counted, and the reverse", async () => {
    const daemon = await withPolicy();
    for (let i = 0; i < 5; i += 1) expect(await imapFailure(daemon.policy, 'alice', `guess ${i}`, '198.51.100.7')).toBe(0);
    expect(daemon.sink.records().filter((r) => r.event === 'throttle' && r.user === 'alice')).toHaveLength(1);
    // The next SMTP guess for alice, from elsewhere, is held back.
    expect(await smtpLogin(daemon, 'alice', 'smtp guess', '203.0.113.9')).toBe('NO authentication failed');
    const smtpFailure = daemon.sink.authEvents().find((e) => e.service === 'smtp' && e.user === 'alice');
    expect(smtpFailure?.delayMs).toBeGreaterThan(0);
    // The reverse: after five SMTP failures for bob, Dovecot's next failure for bob earns a delay, and the
    // guess after it (from an address with a failure: a fresh one has its own lane, guess-gate.ts) waits that
    // long for its turn before Dovecot may check it: SMTP's bound, on IMAP.
    for (let i = 0; i < 5; i += 1) expect(await smtpLogin(daemon, 'bob', `guess ${i}`, '203.0.113.10')).toBe('NO authentication failed');
    expect(await imapFailure(daemon.policy, 'bob', 'imap guess', '198.51.100.8')).toBe(0);
    const imapFailed = daemon.sink.authEvents().find((e) => e.listener === 'policy' && e.user === 'bob');
    expect(imapFailed?.delayMs).toBeGreaterThan(100);
    const waited = await daemon.policy.allow({ login: 'bob', password: 'next imap guess', remote: '198.51.100.8' });
    expect(waited.status).toBe(0);
    expect(waited.ms).toBeGreaterThan(100);
    const events = daemon.sink.authEvents().filter((e) => e.listener === 'policy');
    expect(events.every((e) => e.service === 'imap' && e.result === 'failure')).toBe(true);
  }, 30_000);

  it("pairs Dovecot 2.4's reports, whose fail_type differs from their allow's, and counts none of its internal failures", async () => {
    const daemon = await withPolicy();
    for (let i = 0; i < 4; i += 1) {
      const login = { login: 'alice', password: `guess ${i}`, remote: '198.51.100.7', dovecot24: true };
      expect((await daemon.policy.allow(login)).status).toBe(0);
      await daemon.policy.report(login, false, false, 'internal');
    }
    expect(daemon.sink.authEvents().filter((e) => e.listener === 'policy').map((e) => e.result)).toEqual(Array(4).fill('temporary-failure'));
    for (let i = 0; i < 5; i += 1) {
      const login = { login: 'alice', password: `guess ${i}`, remote: '198.51.100.7', dovecot24: true };
      expect((await daemon.policy.allow(login)).status).toBe(0);
      await daemon.policy.report(login, false, false, 'credentials');
    }
    expect(daemon.sink.records().filter((r) => r.event === 'throttle' && r.user === 'alice')).toHaveLength(1);
  }, 30_000);

  it('counts a repeated stale password once, by its hash', async () => {
    const daemon = await withPolicy();
    for (let i = 0; i < 12; i += 1) await imapFailure(daemon.policy, 'alice', 'the old password', '198.51.100.7');
    expect(daemon.sink.records().filter((r) => r.event === 'throttle')).toEqual([]);
    const failures = daemon.sink.authEvents().filter((e) => e.listener === 'policy');
    expect(failures).toHaveLength(12);
    expect(failures.slice(1).every((e) => e.cache === 'rejected')).toBe(true);
    // Other passwords still count, each once.
    for (let i = 0; i < 5; i += 1) await imapFailure(daemon.policy, 'alice', `guess ${i}`, '198.51.100.7');
    expect(daemon.sink.records().filter((r) => r.event === 'throttle' && r.user === 'alice')).toHaveLength(1);
  }, 30_000);

  it("keeps the owner's known address out of an attack on the name", async () => {
    const daemon = await withPolicy();
    const owner = { login: 'alice', password: 'demo', remote: '192.0.2.50' };
    expect((await daemon.policy.allow(owner)).status).toBe(0);
    // Dovecot asks once more after a success (auth_policy_check_after_auth): the login holds its turn already.
    expect((await daemon.policy.allow(owner)).status).toBe(0);
    await daemon.policy.report(owner, true);
    for (let i = 0; i < 8; i += 1) await imapFailure(daemon.policy, 'alice', `guess ${i}`, `198.51.100.${i + 1}`);
    const again = await daemon.policy.allow({ ...owner, session: 'next' });
    expect(again.status).toBe(0);
    expect(again.ms).toBeLessThan(100);
    await daemon.policy.report({ ...owner, session: 'next' }, true);
    // Over SMTP too: the same owner address.
    expect(await smtpLogin(daemon, 'alice', 'demo', '192.0.2.50')).toBe('OK');
  }, 30_000);

  it("allows at once the check Dovecot repeats after a success, however few turns the name has left", async () => {
    const daemon = await withPolicy();
    // Four failures: the name evaluates one login at a time now.
    for (let i = 0; i < 4; i += 1) await imapFailure(daemon.policy, 'alice', `guess ${i}`, `198.51.100.${i + 1}`);
    // From an address with a failure of its own: a fresh one would have the name's fresh lane (guess-gate.ts).
    const login = { login: 'alice', password: 'demo', remote: '198.51.100.1' };
    expect((await daemon.policy.allow(login)).status).toBe(0);
    const after = await daemon.policy.allow(login);
    expect(after.status).toBe(0);
    expect(after.ms, 'the login holds its turn already: nothing to wait for').toBeLessThan(1000);
    await daemon.policy.report(login, true);
  }, 30_000);

  it('counts names with no row where made-up names are counted, and a login with no name by its address', async () => {
    const daemon = await withPolicy();
    for (let i = 0; i < 5; i += 1) await imapFailure(daemon.policy, 'nobody', `guess ${i}`, '198.51.100.7');
    const unknown = daemon.sink.authEvents().filter((e) => e.listener === 'policy');
    expect(unknown.every((e) => e.code === 'ERR_UNKNOWN_USER')).toBe(true);
    expect(daemon.sink.records().filter((r) => r.event === 'throttle' && r.by === 'address')).toHaveLength(1);
  }, 30_000);

  it('gives a turn back uncounted when its report never comes, and counts no report without its allow', async () => {
    const daemon = await withPolicy({ answerTimeout: '400', throttleMaxDelay: '150' });
    for (let i = 0; i < 4; i += 1) expect((await daemon.policy.allow({ login: 'alice', password: `p${i}`, remote: '198.51.100.7' })).status).toBe(0);
    for (let i = 0; i < 10; i += 1) await daemon.policy.report({ login: 'bob', password: `p${i}`, remote: '198.51.100.7' }, false);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(daemon.sink.records().filter((r) => r.event === 'throttle')).toEqual([]);
    expect(daemon.sink.authEvents().filter((e) => e.listener === 'policy')).toEqual([]);
    // Every turn is back: a fifth login has one at once.
    const next = await daemon.policy.allow({ login: 'alice', password: 'demo', remote: '198.51.100.7' });
    expect(next.status).toBe(0);
    expect(next.ms).toBeLessThan(300);
  }, 30_000);
});
