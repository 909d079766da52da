/**
 * Dovecot's IMAP, POP3 and ManageSieve logins through the daemon (docs/dovecot.md): a private
 * Debian Dovecot 2.3 configured from `saslauthd-mysql dovecot-config`'s output, whose passdb is
 * the shipped Lua script (docs/examples/dovecot/, run by dovecot-auth-lua with lua-socket)
 * asking the daemon's saslauthd socket, beside a second
 * private Dovecot with Dovecot's own SQL passdb on the same MariaDB mailbox table as the
 * reference. Real clients' conversations (IMAP LOGIN, POP3 USER/PASS, ManageSieve
 * AUTHENTICATE PLAIN) over TCP.
 *
 * Shown: the same answers as Dovecot's SQL passdb for a right, a wrong, an unknown and an
 * inactive mailbox on every protocol; Dovecot's service name and the client's address reach
 * the daemon; SMTP and IMAP share one guessing budget for a name, in both directions; with the
 * database down, IMAP and POP3 say temporary failure, never "wrong password".
 */
import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { eventually } from '../helpers/daemon.js';
import { authRecordsOf, type DovecotMail, requireDovecotMail, smtpGuess, sqlPassdb, startDovecotMail } from '../helpers/dovecot.js';
import { imapLogin, pop3Login, sieveLogin, type LoginReply } from '../helpers/mail-clients.js';
import { vector } from '../helpers/vectors.js';
import { freePort, seedMailboxServer, ThrowawayServer } from '../helpers/mysql.js';
import { suiteTempDir } from '../helpers/temp.js';

const EXAMPLES = new URL('../../docs/examples/dovecot/', import.meta.url).pathname;
const PASSWORD = vector('libxcrypt', '$1$ md5crypt', 'secret');

let server: ThrowawayServer;
let daemon: DaemonProcess;
let throughDaemon: DovecotMail;
let reference: DovecotMail;
let runDir: string;
let daemonFlags: () => string[];
let cleanup: () => void;

async function ports(): Promise<DovecotMail['ports']> {
  return { imap: await freePort(), pop3: await freePort(), sieve: await freePort() };
}

type Protocol = 'imap' | 'pop3' | 'sieve';
const LOGIN: Record<Protocol, (port: number, user: string, password: string) => Promise<LoginReply>> = { imap: imapLogin, pop3: pop3Login, sieve: sieveLogin };

function authRecords(user: string, service: string): Record<string, unknown>[] {
  return authRecordsOf(() => daemon.records(), user, service);
}

beforeAll(async () => {
  requireDovecotMail('Dovecot mail', ['lua', 'mysql', 'managesieve']);
  server = await ThrowawayServer.create();
  const mailbox = (username: string, active = 1) => ({ username, password: PASSWORD, active });
  await seedMailboxServer(server, [mailbox('alice@example.org'), mailbox('gone@example.org', 0), mailbox('carol@example.org'), mailbox('dave@example.org')], { user: 'database', password: 'password' });

  const { dir, remove } = suiteTempDir();
  cleanup = remove;
  chmodSync(dir, 0o755);
  const conf = path.join(dir, 'mysql.conf');
  writeFileSync(conf, `hosts = 127.0.0.1:${server.port}\ndatabase = postfix\nuser = database\npassword = password\ntable = mailbox\nwhere = active = 1\nconnect_timeout = 1000\n`, { mode: 0o600 });
  runDir = path.join(dir, 'run');
  daemonFlags = () => ['-a', 'mysql', '-O', conf, '-m', runDir];
  daemon = await spawnDaemon([...daemonFlags(), '--shutdown-grace', '500'], { forSuite: true });
  await daemon.waitForOutput('listening', 15_000);
  chmodSync(runDir, 0o755);

  // The shipped script, and the settings dovecot-config prints for the daemon's own flags.
  const lua = path.join(dir, 'saslauthd-mysql.lua');
  copyFileSync(path.join(EXAMPLES, 'saslauthd-mysql.lua'), lua);
  const settings = await runCli(['dovecot-config', ...daemonFlags(), '--lua-file', lua]);
  expect(settings.code, settings.stderr).toBe(0);
  expect(settings.stdout).toContain(`SASLAUTHD_MYSQL_SOCKET=${path.join(runDir, 'mux')}`);
  throughDaemon = await startDovecotMail(path.join(dir, 'dovecot-daemon'), { ports: await ports(), settings: settings.stdout });
  reference = await startDovecotMail(path.join(dir, 'dovecot-sql'), { ports: await ports(), passdb: sqlPassdb(dir, server.port) });
}, 120_000);

afterAll(async () => {
  await throughDaemon?.stop();
  await reference?.stop();
  await daemon?.stop();
  await server?.destroy();
  cleanup?.();
}, 60_000);

describe("Dovecot's logins through the daemon", () => {
  it.each(['imap', 'pop3', 'sieve'] as const)("%s: the same answers as Dovecot's own SQL passdb on the same table", async (protocol) => {
    const cases: [user: string, password: string][] = [
      ['alice@example.org', 'secret'],
      ['alice@example.org', 'Secret'],
      ['nobody@example.org', 'secret'],
      ['gone@example.org', 'secret'],
    ];
    const answers = async (dovecot: DovecotMail) => {
      const lines: string[] = [];
      for (const [user, password] of cases) lines.push((await LOGIN[protocol](dovecot.ports[protocol], user, password)).line);
      return lines;
    };
    const ours = await answers(throughDaemon);
    const theirs = await answers(reference);
    expect(ours, throughDaemon.log().slice(-3000)).toEqual(theirs);
    expect(ours.map((line) => /^(a OK|\+OK|OK)/.test(line))).toEqual([true, false, false, false]);
    // The daemon decided them, under Dovecot's service name.
    expect(authRecords('nobody@example.org', protocol).length).toBeGreaterThan(0);
  }, 60_000);

  it("passes the client's address to the daemon", async () => {
    await imapLogin(throughDaemon.ports.imap, 'alice@example.org', 'not-hers', '127.0.5.9');
    await eventually(() => authRecords('alice@example.org', 'imap').some((record) => String(record.remote).startsWith('127.0.5.9;')), 5_000);
  });

  it('counts SMTP failures against the next IMAP guess for that name', async () => {
    for (let i = 0; i < 5; i++) expect(smtpGuess(path.join(runDir, 'mux'), 'carol@example.org', `smtp-guess-${i}`)).toMatch(/^0: NO/);
    const guess = await imapLogin(throughDaemon.ports.imap, 'carol@example.org', 'imap-guess');
    expect(guess.ok).toBe(false);
    await eventually(() => authRecords('carol@example.org', 'imap').length > 0, 5_000);
    const [record] = authRecords('carol@example.org', 'imap');
    expect(record!.delayMs, 'the IMAP guess was held back by the SMTP failures').toBeGreaterThan(0);
  }, 60_000);

  it('counts IMAP failures against the next SMTP guess for that name', async () => {
    for (let i = 0; i < 5; i++) expect((await imapLogin(throughDaemon.ports.imap, 'dave@example.org', `imap-guess-${i}`)).ok).toBe(false);
    expect(smtpGuess(path.join(runDir, 'mux'), 'dave@example.org', 'smtp-guess')).toMatch(/^0: NO/);
    await eventually(() => authRecords('dave@example.org', 'smtp').length > 0, 5_000);
    const [record] = authRecords('dave@example.org', 'smtp');
    expect(record!.delayMs, 'the SMTP guess was held back by the IMAP failures').toBeGreaterThan(0);
  }, 60_000);

  it('says temporary failure, never a wrong password, when the database is down', async () => {
    await server.stop();
    const imap = await imapLogin(throughDaemon.ports.imap, 'alice@example.org', 'secret');
    expect(imap.line).toMatch(/^a NO \[UNAVAILABLE\] /);
    const pop3 = await pop3Login(throughDaemon.ports.pop3, 'alice@example.org', 'secret');
    expect(pop3.line).toMatch(/^-ERR \[SYS\/TEMP\] /);
    expect(throughDaemon.log()).not.toMatch(/secret/);
  }, 60_000);
});
