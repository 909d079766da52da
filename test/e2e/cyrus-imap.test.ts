/**
 * Cyrus IMAP, the other client the README names: imapd, pop3d and timsieved
 * checking passwords through libsasl2's saslauthd client (sasl_pwcheck_method:
 * saslauthd, sasl_saslauthd_path on our socket), with users as user@domain
 * (virtdomains: userid) and saslauthd-mysql -a pam -r on the classic pam_mysql
 * line against a real MariaDB. Cyrus's own test clients log in with PLAIN and
 * LOGIN, right and wrong. Needs root, cyrus-imapd, cyrus-pop3d and
 * cyrus-clients; fails (never skips) without them.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { cyrusLogin, cyrusSuiteProblems, startCyrus, type CyrusInstance } from '../helpers/cyrus.js';
import { vector } from '../helpers/vectors.js';
import { seedMailboxServer, ThrowawayServer } from '../helpers/mysql.js';
import { suiteTempDir } from '../helpers/temp.js';

let server: ThrowawayServer;
let daemon: DaemonProcess;
let cyrus: CyrusInstance;
let cleanup: () => void;

beforeAll(async () => {
  const problems = cyrusSuiteProblems();
  if (problems.length > 0) throw new Error(`the Cyrus IMAP end-to-end suite cannot run: ${problems.join('; ')}`);
  server = await ThrowawayServer.create();
  await seedMailboxServer(server, [{ username: 'alice@example.org', password: vector('libxcrypt', '$1$ md5crypt', 'secret') }], { user: 'database', password: 'password' });
  const { dir, remove } = suiteTempDir();
  cleanup = remove;
  // Cyrus's services (user cyrus) must get through this directory to theirs and to the socket's.
  chmodSync(dir, 0o755);
  const pamDir = path.join(dir, 'pam.d');
  mkdirSync(pamDir);
  const line = `pam_mysql.so user=database passwd=password host=127.0.0.1:${server.port} db=postfix table=mailbox usercolumn=username passwdcolumn=password crypt=1 where=active=1`;
  // Cyrus asks for the service it is: imap, pop and sieve, one PAM file each, as with saslauthd.
  for (const service of ['imap', 'pop', 'sieve']) writeFileSync(path.join(pamDir, service), `auth required ${line}\naccount sufficient ${line}\n`, { mode: 0o600 });
  const runDir = path.join(dir, 'run');
  // Cyrus's services run as user cyrus, whose group must reach the socket (Debian: mail).
  const group = 'mail';
  daemon = await spawnDaemon(['-a', 'pam', '-r', '-V', '-m', runDir, '--pam-dir', pamDir, '--socket-group', group, '--socket-mode', '0660'], { forSuite: true });
  cyrus = await startCyrus(path.join(dir, 'cyrus-root'), path.join(runDir, 'mux'));
  expect(cyrus.group).toBe(group);
}, 120_000);

afterAll(async () => {
  await cyrus?.stop();
  await daemon?.stop();
  await server?.stop();
  cleanup?.();
});

describe('Cyrus IMAP through libsasl2 and the saslauthd socket', () => {
  it.each(['PLAIN', 'LOGIN'] as const)('imapd: %s with the right password logs in, with a wrong one does not', async (mech) => {
    expect(await cyrusLogin('imtest', cyrus.ports.imap, 'alice@example.org', 'secret', mech)).toBe(true);
    expect(await cyrusLogin('imtest', cyrus.ports.imap, 'alice@example.org', 'wrong', mech)).toBe(false);
  });

  it('pop3d and timsieved: the right password logs in, a wrong one and an unknown user do not', async () => {
    expect(await cyrusLogin('pop3test', cyrus.ports.pop3, 'alice@example.org', 'secret', 'PLAIN')).toBe(true);
    expect(await cyrusLogin('pop3test', cyrus.ports.pop3, 'alice@example.org', 'wrong', 'PLAIN')).toBe(false);
    expect(await cyrusLogin('sivtest', cyrus.ports.sieve, 'alice@example.org', 'secret', 'PLAIN')).toBe(true);
    expect(await cyrusLogin('sivtest', cyrus.ports.sieve, 'nobody@example.org', 'secret', 'PLAIN')).toBe(false);
  });

  it('the daemon saw each login with the service Cyrus asked for, the realm split off and joined back by -r', () => {
    const events = daemon.records().filter((record) => record.event === 'auth');
    const seen = new Set(events.map((event) => `${event.service} ${event.user} ${event.realm} ${event.result}`));
    for (const expected of [
      'imap alice@example.org example.org success',
      'imap alice@example.org example.org failure',
      'pop alice@example.org example.org success',
      'pop alice@example.org example.org failure',
      'sieve alice@example.org example.org success',
      'sieve nobody@example.org example.org failure',
    ]) {
      expect(seen).toContain(expected);
    }
    // Cyrus (libsasl2 2.1) sends four fields: no client address.
    expect(events.every((event) => event.remote === undefined)).toBe(true);
  });
});
