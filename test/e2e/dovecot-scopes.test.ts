/**
 * A private Debian Dovecot 2.3 whose passdb asks the daemon (the Lua script, settings from
 * `dovecot-config`), the daemon on PostfixAdmin 4.x's tables with the scope columns of
 * docs/postfixadmin.md (`preset = postfixadmin`), and SMTP guesses as Postfix makes them
 * (testsaslauthd on the saslauthd socket). Real IMAP and POP3 logins, each from a loopback
 * address of its own unless a test names one.
 *
 * Shown: an SMTP-only app password sends mail and cannot open IMAP or POP3, with its own code; a
 * mailbox limited to networks opens IMAP only from them; the owner's known address gets in at
 * once while a guesser works on the name over IMAP.
 */
import { chmodSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { runCli, spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { eventually } from '../helpers/daemon.js';
import { authRecordsOf, type DovecotMail, requireDovecotMail, smtpGuess, smtpLoginFrom, startDovecotMail } from '../helpers/dovecot.js';
import { imapLogin, pop3Login } from '../helpers/mail-clients.js';
import { freePort, SECRET_MD5CRYPT, testDatabase, type TestDatabase } from '../helpers/mysql.js';
import { presetEnv, seedPostfixAdmin } from '../helpers/postfixadmin.js';
import { suiteTempDir } from '../helpers/temp.js';

const EXAMPLES = new URL('../../docs/examples/dovecot/', import.meta.url).pathname;

let db: TestDatabase;
let daemon: DaemonProcess;
let dovecot: DovecotMail;
let runDir: string;
let cleanup: () => void;

function authRecords(user: string, service: string): Record<string, unknown>[] {
  return authRecordsOf(() => daemon.records(), user, service);
}

beforeAll(async () => {
  requireDovecotMail('Dovecot scopes', ['lua']);
  db = await testDatabase();
  await seedPostfixAdmin(db, {
    mailboxes: ['alice', 'office', 'owner'].map((name) => ({ username: `${name}@example.org`, password: SECRET_MD5CRYPT })),
    appPasswords: [['alice@example.org', '{PLAIN}phone-sends-only']],
  });
  await db.sql('ALTER TABLE mailbox_app_password ADD COLUMN allowed_services VARCHAR(255) DEFAULT NULL');
  await db.sql('ALTER TABLE mailbox ADD COLUMN allowed_networks VARCHAR(1024) DEFAULT NULL');
  await db.sql("UPDATE mailbox_app_password SET allowed_services = 'smtp' WHERE username = 'alice@example.org'");
  await db.sql("UPDATE mailbox SET allowed_networks = '127.0.20.0/24' WHERE username = 'office@example.org'");

  const { dir, remove } = suiteTempDir();
  cleanup = remove;
  chmodSync(dir, 0o755);
  runDir = path.join(dir, 'run');
  const env = { ...process.env, ...presetEnv(db) };
  const flags = ['-a', 'mysql', '-m', runDir];
  // -V: successes are logged too, with how long each took.
  daemon = await spawnDaemon([...flags, '-V', '--shutdown-grace', '500'], { forSuite: true, env });
  chmodSync(runDir, 0o755);
  const lua = path.join(dir, 'saslauthd-mysql.lua');
  copyFileSync(path.join(EXAMPLES, 'saslauthd-mysql.lua'), lua);
  const settings = await runCli(['dovecot-config', ...flags, '--lua-file', lua], { env });
  expect(settings.code, settings.stderr).toBe(0);
  dovecot = await startDovecotMail(path.join(dir, 'dovecot'), { ports: { imap: await freePort(), pop3: await freePort(), sieve: await freePort() }, settings: settings.stdout });
}, 120_000);

afterAll(async () => {
  await dovecot?.stop();
  await daemon?.stop();
  await db?.close();
  cleanup?.();
}, 60_000);

describe("scopes on Dovecot's logins through the daemon", () => {
  it('an SMTP-only app password sends mail but cannot open IMAP or POP3', async () => {
    expect(smtpGuess(path.join(runDir, 'mux'), 'alice@example.org', 'phone-sends-only')).toMatch(/^0: OK/);
    expect((await imapLogin(dovecot.ports.imap, 'alice@example.org', 'phone-sends-only')).ok).toBe(false);
    expect((await pop3Login(dovecot.ports.pop3, 'alice@example.org', 'phone-sends-only')).ok).toBe(false);
    await eventually(() => authRecords('alice@example.org', 'pop3').length === 1, 5_000);
    expect(authRecords('alice@example.org', 'imap')[0]).toMatchObject({ result: 'failure', code: ErrorCodes.SERVICE_NOT_ALLOWED });
    expect(authRecords('alice@example.org', 'pop3')[0]).toMatchObject({ result: 'failure', code: ErrorCodes.SERVICE_NOT_ALLOWED });
    // The mailbox's own password opens IMAP.
    expect((await imapLogin(dovecot.ports.imap, 'alice@example.org', 'secret')).ok).toBe(true);
  }, 60_000);

  it('a mailbox limited to networks opens IMAP only from them', async () => {
    expect((await imapLogin(dovecot.ports.imap, 'office@example.org', 'secret', '127.0.20.9')).ok).toBe(true);
    expect((await imapLogin(dovecot.ports.imap, 'office@example.org', 'secret', '127.0.21.9')).ok).toBe(false);
    await eventually(() => authRecords('office@example.org', 'imap').length === 2, 5_000);
    expect(authRecords('office@example.org', 'imap').map((record) => [record.result, record.code ?? null])).toEqual([
      ['success', null],
      ['failure', ErrorCodes.NETWORK_NOT_ALLOWED],
    ]);
  }, 60_000);

  it("lets the owner's known address in at once while a guesser works on the name over IMAP", async () => {
    const home = '127.0.30.1';
    expect((await imapLogin(dovecot.ports.imap, 'owner@example.org', 'secret', home)).ok).toBe(true);
    // A typo at home, over SMTP (over IMAP, Dovecot's own penalty would hold the next login from home back
    // for seconds): the address is not a fresh one any more, so only its being the owner's can let it past
    // the guesses (a fresh address has a lane of its own, guess-gate.ts).
    expect(await smtpLoginFrom(path.join(runDir, 'mux'), 'owner@example.org', 'secert', home)).toBe('NO authentication failed');
    // The guesser, from addresses of its own (each new one, so Dovecot's own per-address penalty stays out of it).
    for (let i = 0; i < 7; i++) expect((await imapLogin(dovecot.ports.imap, 'owner@example.org', `guess-${i}`)).ok).toBe(false);
    // The last guess's answer is held back for its delay, and the name stays closed as long: the owner comes then.
    const lastGuess = imapLogin(dovecot.ports.imap, 'owner@example.org', 'guess-7');
    await eventually(() => authRecords('owner@example.org', 'imap').length === 9, 5_000);
    expect(authRecords('owner@example.org', 'imap').at(-1)!.delayMs, 'the name is throttled').toBeGreaterThan(500);
    expect((await imapLogin(dovecot.ports.imap, 'owner@example.org', 'secret', home)).ok).toBe(true);
    expect((await lastGuess).ok).toBe(false);
    await eventually(() => authRecords('owner@example.org', 'imap').length === 10, 5_000);
    const owner = authRecords('owner@example.org', 'imap').at(-1)!;
    expect(owner.result).toBe('success');
    // Decided at once: no turn to wait for behind the guesses, no delay.
    expect(Number(owner.durationMs), "the owner's address waits for no turn").toBeLessThan(200);
    expect(owner.delayMs).toBeUndefined();
  }, 60_000);
});
