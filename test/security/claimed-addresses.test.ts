/**
 * Attack: claim a client address one is not at. Over --dovecot-listen any
 * local process can connect and send rip= of a TOTP exception address, which
 * let a TOTP mailbox's main password in alone. An address grants something
 * only from a peer that is believed: the UNIX socket, or a TCP peer listed in
 * --dovecot-trusted-peers. Against the real process, with the preset.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnDaemon } from '../helpers/cli.js';
import { dovecotPlainLogin } from '../helpers/dovecot-client.js';
import { SECRET_MD5CRYPT, testDatabase, type TestDatabase } from '../helpers/mysql.js';
import { presetEnv, seedPostfixAdmin } from '../helpers/postfixadmin.js';
import { tempDir } from '../helpers/temp.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await testDatabase();
  await seedPostfixAdmin(db, {
    mailboxes: [{ username: 'totp@example.org', password: SECRET_MD5CRYPT, totpSecret: 'JBSWY3DPEHPK3PXP' }],
    totpExceptions: [['192.0.2.10', 'totp@example.org']],
  });
}, 120_000);

afterAll(async () => {
  await db?.close();
});

async function start(extra: string[] = []) {
  const dir = tempDir();
  const auth = path.join(dir, 'auth');
  const daemon = await spawnDaemon(['-a', 'mysql', '-V', '-m', path.join(dir, 'run'), '--dovecot-socket', auth, '--dovecot-listen', '0', ...extra], { env: { ...process.env, ...presetEnv(db) } });
  const port = Number(String(daemon.records().find((r) => r.msg === 'listening')?.dovecotListen).split(':').at(-1));
  const answer = async (where: { path: string } | { host: string; port: number }) => /\n(OK|FAIL)\t1\t[^\n]*/.exec(await dovecotPlainLogin(where, 'totp@example.org', 'secret', '\trip=192.0.2.10'))?.[1] ?? 'closed';
  return { daemon, tcp: () => answer({ host: '127.0.0.1', port }), unix: () => answer({ path: auth }) };
}

describe('a claimed client address', () => {
  it('grants nothing from a TCP peer that is not trusted, and is logged as claimed, not as the remote', async () => {
    const { daemon, tcp, unix } = await start();
    expect(await tcp()).toBe('FAIL');
    expect(await unix()).toBe('OK');
    const [overTcp, overUnix] = daemon.records().filter((r) => r.event === 'auth');
    expect(overTcp).toMatchObject({ code: 'ERR_TOTP_REQUIRED', claimedRemote: '192.0.2.10' });
    expect(overTcp!.remote).toBeUndefined();
    expect(overUnix).toMatchObject({ result: 'success', remote: '192.0.2.10' });
    await daemon.stop();
  }, 60_000);

  it('is believed from a TCP peer listed in --dovecot-trusted-peers', async () => {
    const { daemon, tcp } = await start(['--dovecot-trusted-peers', '127.0.0.1, 2001:db8::/32']);
    expect(await tcp()).toBe('OK');
    await daemon.stop();
  }, 60_000);
});
