/**
 * Prometheus metrics (--metrics-port): off by default; when on, served on
 * loopback with auth results, latency, cache hits, throttle delays, open
 * connections, verification queues and event-loop delay, and bounded labels.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { VERSION } from '../../src/common/version.js';
import { describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { DEMO_HASH, startTestDaemon } from '../helpers/daemon.js';
import { MAX_SERVICE_LABELS } from '../../src/metrics/daemon-metrics.js';
import { dovecotPlainLogin } from '../helpers/dovecot-client.js';
import { policyClient } from '../helpers/policy-client.js';
import { tempDir } from '../helpers/temp.js';

const USERS = [`demo:${DEMO_HASH}`, 'plain:{PLAIN}pw'];
const ask = (socketPath: string, login: string, password: string, service = 'smtp') => exchange(socketPath, requestFrame({ login, password, service, realm: '' })).then((r) => r.reply);

async function scrape(port: number, path = '/metrics'): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, text: await response.text() };
}

/** The value of one sample line, e.g. metric('x_total{a="b"}'). */
function sample(text: string, selector: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${selector} `));
  return line === undefined ? undefined : Number(line.slice(selector.length + 1));
}

describe('Prometheus metrics', () => {
  it('are off by default', async () => {
    const { daemon } = await startTestDaemon(USERS);
    expect(daemon.metricsPort).toBeUndefined();
  });

  it('count results by service, mechanism, result, code and scheme, with latency, cache hits and Node figures', async () => {
    const { daemon, socketPath } = await startTestDaemon(USERS, { metricsPort: '0', throttleAfter: '2', throttleMaxDelay: '100' });
    const port = daemon.metricsPort!;
    expect(await ask(socketPath, 'demo', 'demo')).toBe('OK');
    expect(await ask(socketPath, 'demo', 'demo')).toBe('OK'); // the verified cache answers
    expect(await ask(socketPath, 'demo', 'wrong', 'imap')).toBe('NO authentication failed');
    // Three different guesses: a repeat of one is not counted again.
    for (let i = 0; i < 3; i += 1) await ask(socketPath, 'ghost', `x${i}`);

    const { status, text } = await scrape(port);
    expect(status).toBe(200);
    expect(sample(text, 'saslauthd_mysql_auth_total{listener="mux",service="smtp",mech="passwd-file",result="success",code="",scheme="MD5-CRYPT"}')).toBe(2);
    expect(sample(text, 'saslauthd_mysql_auth_total{listener="mux",service="imap",mech="passwd-file",result="failure",code="ERR_WRONG_PASSWORD",scheme="MD5-CRYPT"}')).toBe(1);
    expect(sample(text, 'saslauthd_mysql_auth_total{listener="mux",service="smtp",mech="passwd-file",result="failure",code="ERR_UNKNOWN_USER",scheme=""}')).toBe(3);
    expect(sample(text, 'saslauthd_mysql_auth_duration_seconds_count{listener="mux",service="smtp",result="success"}')).toBe(2);
    expect(sample(text, 'saslauthd_mysql_cache_hits_total{listener="mux",service="smtp",cache="verified"}')).toBe(1);
    expect(sample(text, 'saslauthd_mysql_throttled_answers_total{listener="mux",service="smtp"}')).toBe(1);
    expect(sample(text, 'saslauthd_mysql_verify_queue{lane="fast"}')).toBe(0);
    // demo's name and ghost's: two keys with failures counted.
    expect(sample(text, 'saslauthd_mysql_throttle_keys{state="counted"}')).toBe(2);
    // The scrape's own connection is not a mux connection: nothing is open.
    expect(sample(text, 'saslauthd_mysql_open_connections{listener="mux"}')).toBe(0);
    expect(sample(text, 'saslauthd_mysql_held_connections')).toBe(0);
    expect(text).toContain('saslauthd_mysql_nodejs_eventloop_lag_p99_seconds');
    expect(sample(text, `saslauthd_mysql_build_info{version="${VERSION}",node="${process.version}"}`)).toBe(1);
    // Never a password.
    expect(text).not.toContain('wrong');

    expect((await scrape(port, '/')).status).toBe(404);
  });

  it("carry the listener and the service on every login counter, Dovecot's policy logins included", async () => {
    const secretFile = path.join(tempDir(), 'policy.secret');
    writeFileSync(secretFile, 'a-policy-secret-of-some-length', { mode: 0o600 });
    const dovecotSocket = path.join(tempDir(), 'dovecot');
    const { daemon } = await startTestDaemon(USERS, { metricsPort: '0', dovecotSocket, dovecotPolicyListen: '0', dovecotPolicySecretFile: secretFile });
    const policy = policyClient(daemon.policyPort!, 'a-policy-secret-of-some-length');
    const imap = { login: 'demo', password: 'wrong', remote: '192.0.2.1', protocol: 'imap' };
    expect((await policy.allow(imap)).status).toBe(0);
    await policy.report(imap, false);
    expect(await dovecotPlainLogin({ path: dovecotSocket }, 'demo', 'demo', '\tservice=pop3')).toMatch(/\nOK\t1\t/);
    const { text } = await scrape(daemon.metricsPort!);
    expect(sample(text, 'saslauthd_mysql_auth_total{listener="policy",service="imap",mech="passwd-file",result="failure",code="ERR_WRONG_PASSWORD",scheme=""}')).toBe(1);
    expect(sample(text, 'saslauthd_mysql_auth_total{listener="dovecot",service="pop3",mech="passwd-file",result="success",code="",scheme="MD5-CRYPT"}')).toBe(1);
    expect(sample(text, 'saslauthd_mysql_auth_duration_seconds_count{listener="policy",service="imap",result="failure"}')).toBe(1);
    expect(sample(text, 'saslauthd_mysql_auth_duration_seconds_count{listener="dovecot",service="pop3",result="success"}')).toBe(1);
    for (const listener of ['mux', 'dovecot', 'policy']) expect(sample(text, `saslauthd_mysql_open_connections{listener="${listener}"}`)).toBeTypeOf('number');
  });

  it('keep the service label bounded whatever names clients send', async () => {
    const { daemon, socketPath } = await startTestDaemon(USERS, { metricsPort: '0', throttleAfter: '0' });
    for (let i = 0; i < MAX_SERVICE_LABELS + 10; i += 1) await ask(socketPath, 'plain', 'pw', `svc${i}`);
    const { text } = await scrape(daemon.metricsPort!);
    const services = new Set([...text.matchAll(/saslauthd_mysql_auth_total\{listener="mux",service="([^"]*)"/g)].map((m) => m[1]));
    expect(services.size).toBe(MAX_SERVICE_LABELS + 1);
    expect(sample(text, 'saslauthd_mysql_auth_total{listener="mux",service="other",mech="passwd-file",result="success",code="",scheme="PLAIN"}')).toBe(10);
  });

  it('listen on loopback only, unless told otherwise', async () => {
    const { daemon } = await startTestDaemon(USERS, { metricsPort: '0' });
    const { networkInterfaces } = await import('node:os');
    const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal);
    if (external) await expect(fetch(`http://${external.address}:${daemon.metricsPort}/metrics`)).rejects.toThrow();
  });
});
