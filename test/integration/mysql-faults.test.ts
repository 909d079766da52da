/**
 * The database stopped, restarted and failed over while the daemon runs:
 * an outage is a temporary failure (no reply, Postfix answers 454), never
 * a wrong password, and the daemon heals by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { eventually, startConfiguredDaemon } from '../helpers/daemon.js';
import { seedMailboxServer, ThrowawayServer } from '../helpers/mysql.js';
import { ErrorCodes } from '../../src/errors.js';

const MD5CRYPT = '$1$8salt.8$Qn8gJEMYSrbUElnVsJXCQ1'; // "secret", libxcrypt
const servers: ThrowawayServer[] = [];

/** The same little mailbox table on a server of our own, readable by sasl/sasl-pw. */
async function mailboxServer(): Promise<ThrowawayServer> {
  const server = await ThrowawayServer.create();
  servers.push(server);
  await seedMailboxServer(server, [{ username: 'md5@example.org', password: MD5CRYPT }], { user: 'sasl', password: 'sasl-pw' });
  return server;
}

function env(hosts: string): Record<string, string> {
  return {
    SASLAUTHD_MYSQL_DB_HOSTS: hosts,
    SASLAUTHD_MYSQL_DB_DATABASE: 'postfix',
    SASLAUTHD_MYSQL_DB_USER: 'sasl',
    SASLAUTHD_MYSQL_DB_PASSWORD: 'sasl-pw',
    SASLAUTHD_MYSQL_DB_TABLE: 'mailbox',
    SASLAUTHD_MYSQL_DB_CONNECT_TIMEOUT: '1000',
    SASLAUTHD_MYSQL_DB_QUERY_TIMEOUT: '1000',
    SASLAUTHD_MYSQL_DB_RETRY_AFTER: '500',
  };
}

const login = (socketPath: string, password = 'secret') => exchange(socketPath, requestFrame({ login: 'md5', password, service: 'smtp', realm: 'example.org' }), { timeoutMs: 8000 });

let primary: ThrowawayServer;
let replica: ThrowawayServer;

beforeAll(async () => {
  [primary, replica] = await Promise.all([mailboxServer(), mailboxServer()]);
}, 90_000);

afterAll(async () => {
  await Promise.all(servers.map((server) => server.destroy()));
});

describe("the database refusing the daemon's account", () => {
  it('is a temporary failure with its own code (a configuration to fix, not an outage), never a NO', async () => {
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, { ...env(`127.0.0.1:${primary.port}`), SASLAUTHD_MYSQL_DB_PASSWORD: 'not-the-password' });
    for (const password of ['secret', 'wrong']) expect((await login(socketPath, password)).received.length).toBe(0);
    const failures = sink.authEvents().filter((event) => event.result === 'temporary-failure');
    expect(failures.map((event) => event.code)).toEqual([ErrorCodes.BACKEND_LOGIN, ErrorCodes.BACKEND_LOGIN]);
    expect(String(failures[0]?.reason)).toMatch(/the database refused the daemon's account \(127\.0\.0\.1:\d+, ER_ACCESS_DENIED_ERROR\)/);
    expect(JSON.stringify(sink.records())).not.toContain('not-the-password');
  }, 60_000);
});

describe('database outages', () => {
  it('answers nothing (temporary failure) while the database is down, and OK again once it is back, without a restart', async () => {
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env(`127.0.0.1:${primary.port}`));
    expect((await login(socketPath)).reply).toBe('OK');

    await primary.stop();
    for (const password of ['secret', 'wrong']) {
      const during = await login(socketPath, password);
      // Neither OK nor NO: a right password must not be refused, a wrong one must not pass.
      expect(during.received.length).toBe(0);
    }
    const outage = sink.authEvents().filter((event) => event.result === 'temporary-failure');
    expect(outage.length).toBe(2);
    expect(outage[0]).toMatchObject({ code: ErrorCodes.BACKEND_UNAVAILABLE });
    // One host: there is no "next one" to try, and the line says what happens instead.
    expect(sink.records().find((r) => String(r.msg).startsWith('database host failed'))?.msg).toMatch(/^database host failed; the only host configured: logins get a temporary failure until it answers/);

    await primary.start();
    await eventually(async () => (await login(socketPath)).reply === 'OK', 15_000, 200);
    expect((await login(socketPath, 'wrong')).reply).toBe('NO authentication failed');
  }, 60_000);

  it('fails over to the next host, and goes back to the first when it returns', async () => {
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env(`127.0.0.1:${primary.port},127.0.0.1:${replica.port}`));
    expect((await login(socketPath)).reply).toBe('OK');

    await primary.stop();
    // Every login is still answered, by the replica.
    for (let i = 0; i < 5; i += 1) expect((await login(socketPath)).reply).toBe('OK');
    expect((await login(socketPath, 'wrong')).reply).toBe('NO authentication failed');
    expect(sink.records().some((r) => r.msg === 'database host failed; trying the next one' && r.host === `127.0.0.1:${primary.port}`)).toBe(true);

    await primary.start();
    await replica.stop();
    // Once the retry delay has passed the primary is tried again; with the replica gone, it must answer.
    await eventually(async () => (await login(socketPath)).reply === 'OK', 15_000, 200);
    expect(sink.records().some((r) => r.msg === 'database host answers again' && r.host === `127.0.0.1:${primary.port}`)).toBe(true);
    await replica.start();
  }, 60_000);

  it('answers within the deadline when the database accepts connections but never answers', async () => {
    // A listener that accepts and stays silent, like a hung server.
    const net = await import('node:net');
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as import('node:net').AddressInfo).port;
    try {
      const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env(`127.0.0.1:${port}`));
      const started = Date.now();
      const result = await login(socketPath);
      expect(result.received.length).toBe(0);
      expect(Date.now() - started).toBeLessThan(4000);
      expect(sink.authEvents()[0]).toMatchObject({ result: 'temporary-failure' });
    } finally {
      silent.close();
    }
  }, 30_000);
});

describe('answering recent successes during an outage (--outage-ttl, off by default)', () => {
  it('accepts a login that succeeded recently while the database is down, and nothing else', async () => {
    const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true, outageTtl: '2' }, env(`127.0.0.1:${primary.port}`));
    expect((await login(socketPath)).reply).toBe('OK');
    await primary.stop();
    try {
      // The same password that just succeeded: answered.
      expect((await login(socketPath)).reply).toBe('OK');
      expect(sink.authEvents().at(-1)).toMatchObject({ result: 'success', cache: 'outage' });
      // Any other password: still no answer (a temporary failure), never OK.
      expect((await login(socketPath, 'wrong')).received.length).toBe(0);
      // After the TTL, the outage is a temporary failure again.
      await new Promise((r) => setTimeout(r, 2100));
      expect((await login(socketPath)).received.length).toBe(0);
    } finally {
      await primary.start();
    }
  }, 40_000);

  it('is off by default: during an outage nothing is answered', async () => {
    const { socketPath } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env(`127.0.0.1:${primary.port}`));
    expect((await login(socketPath)).reply).toBe('OK');
    await primary.stop();
    try {
      expect((await login(socketPath)).received.length).toBe(0);
    } finally {
      await primary.start();
    }
  }, 40_000);
});
