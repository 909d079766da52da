/**
 * TLS to the database: a real mariadbd with a certificate from a throwaway
 * CA (made with OpenSSL), an account that requires TLS, and the daemon
 * checking the chain and, unless told not to, the name in the certificate.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { startConfiguredDaemon } from '../helpers/daemon.js';
import { seedMailboxServer, ThrowawayServer } from '../helpers/mysql.js';

const MAILBOXES = [{ username: 'plain@example.org', password: '{PLAIN}secret' }];
/** An account that may connect only over TLS. */
const ACCOUNT = { user: 'tls', password: 'tls-pw', requireSsl: true };
import { suiteTempDir } from '../helpers/temp.js';

let server: ThrowawayServer;
let certs: string;
let cleanup: () => void;

/** A CA, and a server certificate it signs for `names` (subjectAltName entries). */
function makeCertificates(dir: string, prefix: string, names: string): void {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${prefix} test CA`, '-keyout', `${prefix}-ca-key.pem`, '-out', `${prefix}-ca.pem`);
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=mysql test server', '-keyout', `${prefix}-server-key.pem`, '-out', `${prefix}-server.csr`);
  writeFileSync(path.join(dir, `${prefix}-ext.cnf`), `subjectAltName=${names}\n`);
  openssl('x509', '-req', '-in', `${prefix}-server.csr`, '-CA', `${prefix}-ca.pem`, '-CAkey', `${prefix}-ca-key.pem`, '-CAcreateserial', '-days', '2', '-extfile', `${prefix}-ext.cnf`, '-out', `${prefix}-server.pem`);
}

beforeAll(async () => {
  const temp = suiteTempDir();
  cleanup = temp.remove;
  certs = temp.dir;
  makeCertificates(certs, 'good', 'DNS:localhost');
  makeCertificates(certs, 'other', 'DNS:localhost');
  server = await ThrowawayServer.create([`--ssl-ca=${path.join(certs, 'good-ca.pem')}`, `--ssl-cert=${path.join(certs, 'good-server.pem')}`, `--ssl-key=${path.join(certs, 'good-server-key.pem')}`]);
  await seedMailboxServer(server, MAILBOXES, ACCOUNT);
}, 60_000);

afterAll(async () => {
  await server?.destroy();
  cleanup?.();
});

function env(extra: Record<string, string>): Record<string, string> {
  return {
    SASLAUTHD_MYSQL_DB_HOSTS: `localhost:${server.port}`,
    SASLAUTHD_MYSQL_DB_DATABASE: 'postfix',
    SASLAUTHD_MYSQL_DB_USER: 'tls',
    SASLAUTHD_MYSQL_DB_PASSWORD: 'tls-pw',
    SASLAUTHD_MYSQL_DB_TABLE: 'mailbox',
    SASLAUTHD_MYSQL_DB_CONNECT_TIMEOUT: '2000',
    ...extra,
  };
}

async function login(extra: Record<string, string>) {
  const { socketPath, sink } = await startConfiguredDaemon({ mech: 'mysql', realmJoin: true }, env(extra));
  const result = await exchange(socketPath, requestFrame({ login: 'plain', password: 'secret', realm: 'example.org' }), { timeoutMs: 8000 });
  return { reply: result.reply, events: sink.authEvents() };
}

describe('TLS to the database', () => {
  it('logs in over TLS, checking the chain and the name', async () => {
    const result = await login({ SASLAUTHD_MYSQL_DB_TLS_CA: path.join(certs, 'good-ca.pem') });
    expect(result.reply).toBe('OK');
  });

  it('cannot log in without TLS when the account requires it: a temporary failure, not a NO', async () => {
    const { reply, events } = await login({});
    expect(reply).toBeUndefined();
    expect(events[0]).toMatchObject({ result: 'temporary-failure' });
  });

  it('refuses a server whose certificate another CA signed', async () => {
    const { reply, events } = await login({ SASLAUTHD_MYSQL_DB_TLS_CA: path.join(certs, 'other-ca.pem') });
    expect(reply).toBeUndefined();
    expect(events[0]).toMatchObject({ result: 'temporary-failure' });
  });

  it('checks the name: a certificate for another name is refused unless tls_verify_identity = no', async () => {
    // Signed by the same CA, but for another name: only the name check can tell.
    writeFileSync(path.join(certs, 'elsewhere-ext.cnf'), 'subjectAltName=DNS:db.elsewhere.example\n');
    execFileSync('openssl', ['x509', '-req', '-in', 'good-server.csr', '-CA', 'good-ca.pem', '-CAkey', 'good-ca-key.pem', '-CAcreateserial', '-days', '2', '-extfile', 'elsewhere-ext.cnf', '-out', 'elsewhere-server.pem'], { cwd: certs, stdio: 'ignore' });
    const elsewhere = await ThrowawayServer.create([`--ssl-ca=${path.join(certs, 'good-ca.pem')}`, `--ssl-cert=${path.join(certs, 'elsewhere-server.pem')}`, `--ssl-key=${path.join(certs, 'good-server-key.pem')}`]);
    try {
      await seedMailboxServer(elsewhere, MAILBOXES, ACCOUNT);
      const there = { SASLAUTHD_MYSQL_DB_HOSTS: `localhost:${elsewhere.port}`, SASLAUTHD_MYSQL_DB_TLS_CA: path.join(certs, 'good-ca.pem') };
      const strict = await login(there);
      expect(strict.reply).toBeUndefined();
      expect(String(strict.events[0]?.reason)).toMatch(/altnames/);
      expect((await login({ ...there, SASLAUTHD_MYSQL_DB_TLS_VERIFY_IDENTITY: 'no' })).reply).toBe('OK');
    } finally {
      await elsewhere.destroy();
    }
  });

  it('refuses to check a name against an IP address (the driver cannot), saying what to do', async () => {
    const error = await startConfiguredDaemon({ mech: 'mysql' }, env({ SASLAUTHD_MYSQL_DB_HOSTS: `127.0.0.1:${server.port}`, SASLAUTHD_MYSQL_DB_TLS_CA: path.join(certs, 'good-ca.pem') })).catch((e: unknown) => e);
    expect(String((error as Error).message)).toMatch(/SASLAUTHD_MYSQL_DB_TLS_CA: TLS name checking needs host names/);
    expect((await login({ SASLAUTHD_MYSQL_DB_HOSTS: `127.0.0.1:${server.port}`, SASLAUTHD_MYSQL_DB_TLS_CA: path.join(certs, 'good-ca.pem'), SASLAUTHD_MYSQL_DB_TLS_VERIFY_IDENTITY: 'no' })).reply).toBe('OK');
  });
});
