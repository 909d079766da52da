/**
 * Exim 4.96 (Debian's exim4-daemon-heavy) checking SMTP AUTH through its
 * saslauthd condition, `${if saslauthd{{user}{password}{service}}}`, on the
 * socket path compiled into it, against saslauthd-mysql -a pam -r on the
 * classic pam_mysql line and a real MariaDB. AUTH PLAIN and LOGIN, right and
 * wrong; and the condition without a service, which Exim sends empty and -a
 * pam refuses, as saslauthd with Linux-PAM does. Needs root, the unpacked
 * Exim (.ci/unpack-exim) and unshare; fails (never skips) without them.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { eximLog, eximSetup, eximSuiteProblems, type EximSetup } from '../helpers/exim.js';
import { vector } from '../helpers/vectors.js';
import { seedMailboxServer, ThrowawayServer } from '../helpers/mysql.js';
import { suiteTempDir } from '../helpers/temp.js';

let server: ThrowawayServer;
let daemon: DaemonProcess;
let exim: EximSetup;
let eximDir: string;
let dovecotSocket: string;
let cleanup: () => void;

const b64 = (text: string) => Buffer.from(text).toString('base64');
const plain = (user: string, password: string) => `AUTH PLAIN ${b64(`\0${user}\0${password}`)}`;
/** The reply code Exim gave to the AUTH in a session. */
const authReply = (transcript: string) => /^(235|535|435|503|504) /m.exec(transcript)?.[1];

beforeAll(async () => {
  const problems = eximSuiteProblems();
  if (problems.length > 0) throw new Error(`the Exim end-to-end suite cannot run: ${problems.join('; ')}`);
  server = await ThrowawayServer.create();
  await seedMailboxServer(server, [{ username: 'alice@example.org', password: vector('libxcrypt', '$1$ md5crypt', 'secret') }], { user: 'database', password: 'password' });
  const { dir, remove } = suiteTempDir();
  cleanup = remove;
  chmodSync(dir, 0o755);
  const pamDir = path.join(dir, 'pam.d');
  mkdirSync(pamDir);
  const line = `pam_mysql.so user=database passwd=password host=127.0.0.1:${server.port} db=postfix table=mailbox usercolumn=username passwdcolumn=password crypt=1 where=active=1`;
  writeFileSync(path.join(pamDir, 'smtp'), `auth required ${line}\naccount sufficient ${line}\n`, { mode: 0o600 });
  const runDir = path.join(dir, 'run');
  // Exim drops to its own user (here the mail user): the socket's group lets it in.
  dovecotSocket = path.join(runDir, 'auth');
  daemon = await spawnDaemon(['-a', 'pam', '-r', '-V', '-m', runDir, '--pam-dir', pamDir, '--dovecot-socket', dovecotSocket, '--socket-group', 'mail', '--socket-mode', '0660'], { forSuite: true });
  eximDir = path.join(dir, 'exim');
  exim = eximSetup(eximDir, runDir);
}, 120_000);

afterAll(async () => {
  await daemon?.stop();
  await server?.stop();
  cleanup?.();
});

describe('Exim through its saslauthd condition', () => {
  it('AUTH PLAIN: 235 with the right password, 535 with a wrong one', async () => {
    const right = await exim.session(['EHLO client.example', plain('alice@example.org', 'secret'), 'QUIT']);
    expect(authReply(right), `${right}\n${eximLog(eximDir)}`).toBe('235');
    const wrong = await exim.session(['EHLO client.example', plain('alice@example.org', 'wrong'), 'QUIT']);
    expect(authReply(wrong)).toBe('535');
  });

  it('AUTH LOGIN: 235 with the right password, 535 for an unknown user', async () => {
    const right = await exim.session(['EHLO client.example', 'AUTH LOGIN', b64('alice@example.org'), b64('secret'), 'QUIT']);
    expect(authReply(right)).toBe('235');
    const unknown = await exim.session(['EHLO client.example', 'AUTH LOGIN', b64('nobody@example.org'), b64('secret'), 'QUIT']);
    expect(authReply(unknown)).toBe('535');
  });

  it('refuses the condition without a service (Exim sends it empty), as saslauthd with Linux-PAM does', async () => {
    const file = exim.config('no-service', '${if saslauthd{{$auth2}{$auth3}}}', '${if saslauthd{{$auth1}{$auth2}}}');
    const transcript = await exim.session(['EHLO client.example', plain('alice@example.org', 'secret'), 'QUIT'], file);
    expect(authReply(transcript)).toBe('535');
    expect(daemon.records().filter((record) => record.event === 'auth').at(-1)).toMatchObject({ service: '', result: 'failure', code: 'ERR_INVALID_SERVICE' });
  });
});

describe("Exim's dovecot authenticator, on the daemon's --dovecot-socket", () => {
  it('AUTH PLAIN and LOGIN: 235 with the right password, 535 with a wrong one', async () => {
    const file = exim.dovecotConfig('dovecot', dovecotSocket);
    const plainRight = await exim.session(['EHLO client.example', plain('alice@example.org', 'secret'), 'QUIT'], file);
    expect(authReply(plainRight), `${plainRight}\n${eximLog(eximDir)}`).toBe('235');
    expect(authReply(await exim.session(['EHLO client.example', plain('alice@example.org', 'wrong'), 'QUIT'], file))).toBe('535');
    expect(authReply(await exim.session(['EHLO client.example', 'AUTH LOGIN', b64('alice@example.org'), b64('secret'), 'QUIT'], file))).toBe('235');
    expect(authReply(await exim.session(['EHLO client.example', 'AUTH LOGIN', b64('alice@example.org'), b64('wrong'), 'QUIT'], file))).toBe('535');
  });
});
