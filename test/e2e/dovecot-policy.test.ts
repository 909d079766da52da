/**
 * A Dovecot that keeps its own SQL passdb and shares the daemon's guessing budget through
 * Dovecot's auth policy (docs/dovecot.md): a private Debian Dovecot 2.3 whose policy settings are
 * `saslauthd-mysql dovecot-config`'s output for the daemon's flags, real IMAP and POP3 logins,
 * and SMTP's guesses on the daemon's saslauthd socket (testsaslauthd, as Postfix asks it).
 *
 * Shown: Dovecot's answers are its own SQL passdb's; its failures and SMTP's count for one name
 * in both directions; a phone repeating an old password counts once; the owner's known address
 * is not held back by an attack on the name over IMAP; every request carried the secret.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { eventually } from '../helpers/daemon.js';
import { authRecordsOf, type DovecotMail, requireDovecotMail, smtpGuess, smtpLoginFrom, sqlPassdb, startDovecotMail } from '../helpers/dovecot.js';
import { imapLogin, pop3Login } from '../helpers/mail-clients.js';
import { vector } from '../helpers/vectors.js';
import { freePort, seedMailboxServer, ThrowawayServer } from '../helpers/mysql.js';
import { suiteTempDir } from '../helpers/temp.js';

const PASSWORD = vector('libxcrypt', '$1$ md5crypt', 'secret');
const SECRET = 'e2e-policy-secret-0123456789abcdef';

let server: ThrowawayServer;
let daemon: DaemonProcess;
let dovecot: DovecotMail;
let runDir: string;
let cleanup: () => void;

function authRecords(user: string, service: string): Record<string, unknown>[] {
  return authRecordsOf(() => daemon.records(), user, service);
}

beforeAll(async () => {
  requireDovecotMail('Dovecot policy', ['mysql']);
  server = await ThrowawayServer.create();
  const mailbox = (username: string) => ({ username, password: PASSWORD, active: 1 });
  await seedMailboxServer(server, ['alice', 'carol', 'dave', 'erin'].map((name) => mailbox(`${name}@example.org`)), { user: 'database', password: 'password' });

  const { dir, remove } = suiteTempDir();
  cleanup = remove;
  chmodSync(dir, 0o755);
  const conf = path.join(dir, 'mysql.conf');
  writeFileSync(conf, `hosts = 127.0.0.1:${server.port}\ndatabase = postfix\nuser = database\npassword = password\ntable = mailbox\nwhere = active = 1\nconnect_timeout = 1000\n`, { mode: 0o600 });
  const secretFile = path.join(dir, 'dovecot-policy.secret');
  writeFileSync(secretFile, SECRET, { mode: 0o600 });
  runDir = path.join(dir, 'run');
  const flags = ['-a', 'mysql', '-O', conf, '-m', runDir, '--dovecot-policy-listen', String(await freePort()), '--dovecot-policy-secret-file', secretFile];
  // -V: successes are logged too, with how long each waited for its turn.
  daemon = await spawnDaemon([...flags, '-V', '--shutdown-grace', '500'], { forSuite: true });
  await daemon.waitForOutput('listening', 15_000);

  const settings = await runCli(['dovecot-config', ...flags]);
  expect(settings.code, settings.stderr).toBe(0);
  expect(settings.stdout).toContain('auth_policy_server_url = http://127.0.0.1:');
  expect(settings.stdout).not.toContain(SECRET);
  const ports = { imap: await freePort(), pop3: await freePort(), sieve: await freePort() };
  dovecot = await startDovecotMail(path.join(dir, 'dovecot'), { ports, settings: settings.stdout, passdb: sqlPassdb(dir, server.port) });
}, 120_000);

afterAll(async () => {
  await dovecot?.stop();
  await daemon?.stop();
  await server?.destroy();
  cleanup?.();
}, 60_000);

describe('a Dovecot with its own passdb, on the shared budget', () => {
  it("answers with its own passdb, and tells the daemon every login with its service and the client's address", async () => {
    expect((await imapLogin(dovecot.ports.imap, 'alice@example.org', 'secret', '127.0.7.1')).ok, dovecot.log().slice(-3000) + daemon.output().slice(-2000)).toBe(true);
    expect((await imapLogin(dovecot.ports.imap, 'alice@example.org', 'Secret', '127.0.7.2')).ok).toBe(false);
    expect((await pop3Login(dovecot.ports.pop3, 'nobody@example.org', 'secret', '127.0.7.3')).ok).toBe(false);
    await eventually(() => authRecords('nobody@example.org', 'pop3').length === 1, 5_000);
    const imap = authRecords('alice@example.org', 'imap');
    expect(imap.map((record) => [record.result, record.remote, record.listener])).toEqual([
      ['success', '127.0.7.1', 'policy'],
      ['failure', '127.0.7.2', 'policy'],
    ]);
    expect(authRecords('nobody@example.org', 'pop3')[0]).toMatchObject({ code: 'ERR_UNKNOWN_USER', remote: '127.0.7.3' });
    // Every request carried the secret; the secret is in no log.
    expect(daemon.records().filter((record) => record.code === 'ERR_POLICY_UNAUTHORIZED' || record.code === 'ERR_POLICY_MALFORMED')).toEqual([]);
    expect(dovecot.log()).not.toMatch(/Policy server HTTP error/);
    expect(daemon.output()).not.toContain(SECRET);
  }, 60_000);

  it("counts IMAP failures against the next SMTP guess for that name", async () => {
    for (let i = 0; i < 5; i++) expect((await imapLogin(dovecot.ports.imap, 'dave@example.org', `imap-guess-${i}`)).ok).toBe(false);
    await eventually(() => authRecords('dave@example.org', 'imap').length === 5, 5_000);
    expect(smtpGuess(path.join(runDir, 'mux'), 'dave@example.org', 'smtp-guess')).toMatch(/^0: NO/);
    await eventually(() => authRecords('dave@example.org', 'smtp').length === 1, 5_000);
    const [record] = authRecords('dave@example.org', 'smtp');
    expect(record!.delayMs, 'the SMTP guess was held back by the IMAP failures').toBeGreaterThan(0);
  }, 60_000);

  it('counts SMTP failures against IMAP guesses for that name: they wait their turn', async () => {
    for (let i = 0; i < 5; i++) expect(smtpGuess(path.join(runDir, 'mux'), 'carol@example.org', `smtp-guess-${i}`)).toMatch(/^0: NO/);
    // Four guesses at once from one address (at once: Dovecot's own per-address penalty, which would delay a
    // later one before it asks, does not come into it). The throttled name evaluates one at a time, plus one
    // from a fresh address (guess-gate.ts); the others wait for their turn before Dovecot may check them.
    const guesses = await Promise.all([1, 2, 3, 4].map((i) => imapLogin(dovecot.ports.imap, 'carol@example.org', `imap-guess-${i}`, '127.0.8.1')));
    expect(guesses.map((guess) => guess.ok)).toEqual([false, false, false, false]);
    await eventually(() => authRecords('carol@example.org', 'imap').length === 4, 10_000);
    const records = authRecords('carol@example.org', 'imap');
    // Deterministic: the SMTP failures count, so Dovecot's first IMAP failure already closes the name for a delay.
    expect(records[0]!.delayMs).toBeGreaterThan(100);
    const waits = records.map((record) => Number(record.waitedMs ?? 0));
    expect(Math.max(...waits), `Dovecot waited for a turn before checking a guess (waits: ${waits.join(', ')} ms)`).toBeGreaterThan(100);
  }, 60_000);

  it('counts a phone repeating an old password once', async () => {
    // Each from an address of its own, or Dovecot's own per-address penalty would slow the suite down.
    for (let i = 0; i < 10; i++) expect((await pop3Login(dovecot.ports.pop3, 'erin@example.org', 'the old password')).ok).toBe(false);
    await eventually(() => authRecords('erin@example.org', 'pop3').length === 10, 5_000);
    expect(authRecords('erin@example.org', 'pop3').slice(1).every((record) => record.cache === 'rejected')).toBe(true);
    expect(daemon.records().filter((record) => record.event === 'throttle' && record.user === 'erin@example.org')).toEqual([]);
    expect((await pop3Login(dovecot.ports.pop3, 'erin@example.org', 'secret')).ok).toBe(true);
  }, 60_000);

  it("lets the owner's known address in at once during an attack on the name over IMAP", async () => {
    const home = '127.0.10.1';
    expect((await imapLogin(dovecot.ports.imap, 'alice@example.org', 'secret', home)).ok).toBe(true);
    // A typo at home, over SMTP (over IMAP, Dovecot's own penalty would hold the next login from home back
    // for seconds): the address is not a fresh one any more, so only its being the owner's can let it past
    // the guesses (a fresh address has a lane of its own, guess-gate.ts).
    expect(await smtpLoginFrom(path.join(runDir, 'mux'), 'alice@example.org', 'secert', home)).toBe('NO authentication failed');
    for (let i = 0; i < 8; i++) expect((await imapLogin(dovecot.ports.imap, 'alice@example.org', `attack-${i}`)).ok).toBe(false);
    await eventually(() => authRecords('alice@example.org', 'imap').filter((record) => record.result === 'failure').length >= 8, 5_000);
    const lastAttack = authRecords('alice@example.org', 'imap').at(-1)!;
    // The name is closed for this long after the last guess...
    expect(lastAttack.delayMs).toBeGreaterThan(500);
    // ...but not to the address alice logged in from.
    expect((await imapLogin(dovecot.ports.imap, 'alice@example.org', 'secret', home)).ok).toBe(true);
    await eventually(() => authRecords('alice@example.org', 'imap').at(-1)!.result === 'success', 5_000);
    expect(authRecords('alice@example.org', 'imap').at(-1)!.waitedMs ?? 0, "the owner's address waits for no turn").toBeLessThan(50);
  }, 60_000);
});
