/**
 * No secret in any output: the daemon runs at trace level (and with -d) and
 * is driven down every path (right, wrong, unknown user, malformed and
 * oversized requests, a truncated one, a fifth field, a database outage), for
 * -a mysql with the database password in a DSN and -a pam with it on a
 * verbose pam_mysql line. No password, in plain, hex or base64 form, may
 * appear in anything it writes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { vector } from '../helpers/vectors.js';
import { FrameBuilder, requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { seedMailboxServer, ThrowawayServer } from '../helpers/mysql.js';
import { suiteTempDir } from '../helpers/temp.js';

const DB_PASSWORD = 'DbPw-7c1e-unique';
/** The stored hash is of "secret": the right password is that; the others are markers that must never be printed. */
const MARKERS = ['Wrong-pw-11bd', 'Unknown-pw-5e2a', 'Long-pw-8f0c', 'Cut-pw-3d9b', 'Outage-pw-0a7e', 'Fifth-pw-6b4f', 'Nologin-pw-2c8d'];

function forms(secret: string): string[] {
  const bytes = Buffer.from(secret);
  return [secret, bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64').replace(/=+$/, '')];
}

let server: ThrowawayServer;
let cleanup: () => void;
let dir: string;

beforeAll(async () => {
  server = await ThrowawayServer.create();
  await seedMailboxServer(server, [{ username: 'alice@example.org', password: vector('libxcrypt', '$1$ md5crypt', 'secret') }], { user: 'reader', password: DB_PASSWORD });
  ({ dir, remove: cleanup } = suiteTempDir());
}, 60_000);

afterAll(async () => {
  await server?.destroy();
  cleanup?.();
});

/** Every path a request can take, with a password marker in each. */
async function driveEveryPath(daemon: DaemonProcess, socketPath: string): Promise<void> {
  const ask = (password: string, login = 'alice', more: { clientAddress?: string } = {}) => exchange(socketPath, requestFrame({ login, password, realm: 'example.org', ...more }));
  expect((await ask('secret')).reply).toBe('OK');
  expect((await ask(MARKERS[0]!)).reply).toMatch(/^NO/);
  expect((await ask(MARKERS[1]!, 'nobody')).reply).toMatch(/^NO/);
  // A password over the field limit, carrying the marker.
  expect((await ask(`${MARKERS[2]}${'x'.repeat(300)}`)).reply).toMatch(/^NO/);
  // A request cut off after the password.
  await exchange(socketPath, new FrameBuilder().field('alice').field(MARKERS[3]!).build());
  expect((await ask(MARKERS[5]!, 'alice', { clientAddress: '192.0.2.1;25' })).reply).toMatch(/^NO/);
  expect((await ask(MARKERS[6]!, '')).reply).toMatch(/^NO/);
  await server.stop();
  try {
    expect((await ask(MARKERS[4]!)).reply).toBeUndefined();
    expect((await ask('secret')).reply).toBeUndefined();
  } finally {
    await server.start();
  }
  expect(daemon.output()).toMatch(/temporary failure/);
}

function expectNoSecret(output: string, extra: string[]): void {
  for (const secret of [...MARKERS, 'secret', DB_PASSWORD, ...extra]) {
    for (const form of forms(secret)) {
      // "secret" alone is too common a word to search for; its encoded forms are not.
      if (form === 'secret') continue;
      expect(output.includes(form), `"${form}" (from ${secret}) appears in the output`).toBe(false);
    }
  }
}

describe('no secret in the output', () => {
  it('-a mysql, password in a DSN, at trace level', async () => {
    const runDir = path.join(dir, 'mysql');
    const env = { ...process.env, SASLAUTHD_MYSQL_DB_URL: `mysql://reader:${DB_PASSWORD}@127.0.0.1:${server.port}/postfix`, SASLAUTHD_MYSQL_DB_TABLE: 'mailbox' };
    const daemon = await spawnDaemon(['-a', 'mysql', '-r', '-m', runDir, '--log-level', 'trace', '--verify-cache', '0', '--read-timeout', '1000'], { env });
    await driveEveryPath(daemon, path.join(runDir, 'mux'));
    await daemon.stop();
    expectNoSecret(daemon.output(), []);
  }, 60_000);

  it('-a pam with a verbose pam_mysql line, in -d (human-readable debug) mode', async () => {
    const pamDir = path.join(dir, 'pam.d');
    mkdirSync(pamDir, { recursive: true });
    const line = `pam_mysql.so user=reader passwd=${DB_PASSWORD} host=127.0.0.1:${server.port} db=postfix table=mailbox usercolumn=username passwdcolumn=password crypt=1 verbose=1 debug sqllog=1`;
    writeFileSync(path.join(pamDir, 'smtp'), `auth required ${line}\n`);
    const runDir = path.join(dir, 'pam');
    const daemon = await spawnDaemon(['-a', 'pam', '-r', '-d', '-m', runDir, '--pam-dir', pamDir, '--verify-cache', '0', '--read-timeout', '1000']);
    await driveEveryPath(daemon, path.join(runDir, 'mux'));
    await daemon.stop();
    expect(daemon.output()).toMatch(/verbose/);
    expectNoSecret(daemon.output(), []);
  }, 60_000);
});
