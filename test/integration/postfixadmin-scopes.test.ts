/**
 * preset = postfixadmin with the two optional scope columns of docs/postfixadmin.md, added to
 * PostfixAdmin 4.x's tables with the statements that page gives: an app password limited to
 * services, a mailbox limited to networks. Through the saslauthd socket (Postfix's way) and
 * the Dovecot listener (service=imap, rip=), as Dovecot's passdb asks.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors.js';
import { startConfiguredDaemon } from '../helpers/daemon.js';
import { dovecotPlainLogin } from '../helpers/dovecot-client.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { SECRET_MD5CRYPT, testDatabase, type TestDatabase } from '../helpers/mysql.js';
import { presetEnv, seedPostfixAdmin } from '../helpers/postfixadmin.js';
import { tempDir } from '../helpers/temp.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await testDatabase();
  await seedPostfixAdmin(db, {
    mailboxes: [
      { username: 'alice@example.org', password: SECRET_MD5CRYPT },
      { username: 'office@example.org', password: SECRET_MD5CRYPT },
      { username: 'typo@example.org', password: SECRET_MD5CRYPT },
    ],
    appPasswords: [
      ['alice@example.org', '{PLAIN}phone-smtp'],
      ['alice@example.org', '{PLAIN}tablet-mail'],
      ['alice@example.org', '{PLAIN}laptop-any'],
      ['office@example.org', '{PLAIN}office-phone'],
    ],
  });
  // docs/postfixadmin.md's statements, as an administrator runs them.
  await db.sql('ALTER TABLE mailbox_app_password ADD COLUMN allowed_services VARCHAR(255) DEFAULT NULL');
  await db.sql('ALTER TABLE mailbox ADD COLUMN allowed_networks VARCHAR(1024) DEFAULT NULL');
  await db.sql("UPDATE mailbox_app_password SET allowed_services = 'smtp' WHERE password_hash = '{PLAIN}phone-smtp'");
  await db.sql("UPDATE mailbox_app_password SET allowed_services = 'IMAP, pop3 sieve' WHERE password_hash = '{PLAIN}tablet-mail'");
  await db.sql("UPDATE mailbox SET allowed_networks = '192.0.2.0/24, 2001:db8:10::/48' WHERE username = 'office@example.org'");
  await db.sql("UPDATE mailbox SET allowed_networks = '192.0.2.0/24, the office' WHERE username = 'typo@example.org'");
}, 120_000);

afterAll(async () => {
  await db?.close();
});

async function daemon() {
  const dovecotSocket = path.join(tempDir(), 'dovecot');
  const started = await startConfiguredDaemon({ mech: 'mysql', dovecotSocket }, presetEnv(db));
  return {
    ...started,
    smtp: async (login: string, password: string, from?: string) =>
      (await exchange(started.socketPath, requestFrame({ login, password, service: 'smtp', realm: '', ...(from === undefined ? {} : { clientAddress: `${from};40123` }) }))).reply ?? 'no answer',
    /** As Dovecot's passdb asks: service and the client's address. */
    imap: async (login: string, password: string, from = '192.0.2.77') => {
      const reply = await dovecotPlainLogin({ path: dovecotSocket }, login, password, `\tservice=imap\trip=${from}`);
      return /\nOK\t1\t/.test(reply) ? 'OK' : /\nFAIL\t1\t/.test(reply) ? 'FAIL' : 'no answer';
    },
    lastEvent: () => started.sink.authEvents().at(-1),
  };
}

describe('preset = postfixadmin: scopes', () => {
  it('says at start-up that both rules are on', async () => {
    const { sink, smtp } = await daemon();
    expect(await smtp('alice@example.org', 'secret')).toBe('OK');
    const line = String(sink.records().find((record) => String(record.msg).startsWith('postfixadmin preset:'))?.msg);
    expect(line).toContain('app passwords limited to services (mailbox_app_password.allowed_services)');
    expect(line).toContain('allowed networks (mailbox.allowed_networks)');
  });

  it('an SMTP-only app password sends mail but cannot open IMAP; the other values are not affected', async () => {
    const { smtp, imap, lastEvent } = await daemon();
    expect(await smtp('alice@example.org', 'phone-smtp')).toBe('OK');
    expect(await imap('alice@example.org', 'phone-smtp')).toBe('FAIL');
    expect(lastEvent()).toMatchObject({ code: ErrorCodes.SERVICE_NOT_ALLOWED, service: 'imap' });
    expect(String(lastEvent()?.reason)).toMatch(/for smtp only, not imap \(the password was right\)/);
    // A mail-reading one the other way round (its list in any case and separators).
    expect(await imap('alice@example.org', 'tablet-mail')).toBe('OK');
    expect(await smtp('alice@example.org', 'tablet-mail')).toBe('NO authentication failed');
    expect(lastEvent()?.code).toBe(ErrorCodes.SERVICE_NOT_ALLOWED);
    // No list: every service; and the main password.
    expect(await smtp('alice@example.org', 'laptop-any')).toBe('OK');
    expect(await imap('alice@example.org', 'laptop-any')).toBe('OK');
    expect(await imap('alice@example.org', 'secret')).toBe('OK');
    // A wrong password is still a wrong password.
    expect(await imap('alice@example.org', 'phone-smtpx')).toBe('FAIL');
    expect(lastEvent()?.code).toBe(ErrorCodes.WRONG_PASSWORD);
  });

  it('a mailbox limited to networks logs in only from them, with any of its passwords', async () => {
    const { smtp, imap, lastEvent } = await daemon();
    expect(await smtp('office@example.org', 'secret', '192.0.2.15')).toBe('OK');
    expect(await imap('office@example.org', 'secret', '2001:db8:10:5::1')).toBe('OK');
    expect(await smtp('office@example.org', 'secret', '::ffff:192.0.2.15')).toBe('OK');
    expect(await smtp('office@example.org', 'secret', '198.51.100.4')).toBe('NO authentication failed');
    expect(lastEvent()).toMatchObject({ code: ErrorCodes.NETWORK_NOT_ALLOWED });
    expect(await imap('office@example.org', 'office-phone', '198.51.100.4')).toBe('FAIL');
    expect(lastEvent()?.code).toBe(ErrorCodes.NETWORK_NOT_ALLOWED);
    // No address known: refused, since none can be shown to be inside.
    expect(await smtp('office@example.org', 'secret')).toBe('NO authentication failed');
    expect(String(lastEvent()?.reason)).toMatch(/sent no address/);
    // Other mailboxes have no list: from anywhere.
    expect(await smtp('alice@example.org', 'secret', '198.51.100.4')).toBe('OK');
  });

  it("a list with an entry that is no network is the row's mistake: no answer, never a no", async () => {
    const { smtp, lastEvent } = await daemon();
    expect(await smtp('typo@example.org', 'secret', '192.0.2.15')).toBe('no answer');
    expect(lastEvent()).toMatchObject({ result: 'temporary-failure', code: ErrorCodes.MALFORMED_STORED_VALUE });
    expect(String(lastEvent()?.reason)).toContain('"the"');
  });
});
