/**
 * Attack (a policy downgrade): a PAM stack whose other modules would turn a
 * login down (pam_listfile with onerr=fail, pam_time, pam_deny) must not
 * answer OK just because the daemon runs only pam_mysql. Against the real
 * process, with a real MariaDB behind pam_mysql.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { CLI, spawnDaemon } from '../helpers/cli.js';
import { SECRET_MD5CRYPT, suiteMailboxDatabase } from '../helpers/mysql.js';
import { tempDir } from '../helpers/temp.js';

const database = suiteMailboxDatabase([{ username: 'alice@example.org', password: SECRET_MD5CRYPT }]);

describe('-a pam with other modules in the stack', () => {
  it('refuses a service whose stack could deny in a module it does not run, unless told to skip it; warns about a sufficient one', async () => {
    const db = database();
    const dir = tempDir();
    const pamDir = path.join(dir, 'pam.d');
    mkdirSync(pamDir);
    const mysql = `auth required pam_mysql.so user=${db.user} passwd=${db.password} host=${db.host}:${db.port} db=${db.database} table=mailbox usercolumn=username passwdcolumn=password crypt=1`;
    const stacks = {
      listfile: `auth requisite pam_listfile.so item=user sense=allow file=/nonexistent onerr=fail\n${mysql}\n`,
      time: `${mysql}\naccount required pam_time.so\n`,
      deny: `${mysql}\naccount [default=die] pam_deny.so\n`,
      unix: `auth sufficient pam_unix.so\n${mysql}\n`,
      plain: `${mysql}\n`,
    };
    for (const [service, text] of Object.entries(stacks)) writeFileSync(path.join(pamDir, service), text, { mode: 0o600 });

    const run = async (extra: string[], name: string) => {
      const daemon = await spawnDaemon(['-a', 'pam', '-r', '--pam-dir', pamDir, '-m', path.join(dir, name), ...extra]);
      const replies: Record<string, string | undefined> = {};
      for (const service of Object.keys(stacks)) {
        replies[service] = (await exchange(path.join(dir, name, 'mux'), requestFrame({ login: 'alice', password: 'secret', service, realm: 'example.org' }))).reply;
      }
      await daemon.stop();
      return { replies, records: daemon.records() };
    };

    const strict = await run([], 'strict');
    // A service that refuses to load is a configuration problem: a temporary failure (no reply), never a wrong password.
    expect(strict.replies).toEqual({ listfile: undefined, time: undefined, deny: undefined, unix: 'OK', plain: 'OK' });
    const refusals = strict.records.filter((record) => String(record.msg).startsWith('PAM service not usable')).map((record) => String(record.reason));
    expect(refusals).toEqual([
      expect.stringMatching(/listfile:1: "auth requisite pam_listfile\.so" could turn a login down.*--pam-ignore-modules/),
      expect.stringMatching(/time:2: "account required pam_time\.so" could turn a login down/),
      expect.stringMatching(/deny:2: "account default=die pam_deny\.so" could turn a login down/),
    ]);
    expect(strict.records.filter((record) => record.event === 'auth' && record.result === 'temporary-failure').map((record) => record.code)).toEqual(['ERR_PAM_CONFIG', 'ERR_PAM_CONFIG', 'ERR_PAM_CONFIG']);
    expect(strict.records.some((record) => /unix:1: "auth sufficient pam_unix\.so" could let a login in without pam_mysql/.test(String(record.msg)))).toBe(true);

    const accepting = await run(['--pam-ignore-modules', 'pam_listfile.so,pam_time.so'], 'accepting');
    expect(accepting.replies).toEqual({ listfile: 'OK', time: 'OK', deny: undefined, unix: 'OK', plain: 'OK' });
  }, 30_000);

  it('refuses a file Linux-PAM would not run (a misspelt control), naming file and line, as a temporary failure', async () => {
    const db = database();
    const dir = tempDir();
    const pamDir = path.join(dir, 'pam.d');
    mkdirSync(pamDir);
    const args = `pam_mysql.so user=${db.user} passwd=${db.password} host=${db.host}:${db.port} db=${db.database} table=mailbox usercolumn=username passwdcolumn=password crypt=1`;
    writeFileSync(path.join(pamDir, 'typo'), `auth requird ${args}\n`, { mode: 0o600 });
    writeFileSync(path.join(pamDir, 'smtp'), `auth required ${args}\n`, { mode: 0o600 });
    const daemon = await spawnDaemon(['-a', 'pam', '-r', '--pam-dir', pamDir, '-m', path.join(dir, 'run')]);
    const ask = async (service: string) => (await exchange(path.join(dir, 'run', 'mux'), requestFrame({ login: 'alice', password: 'secret', service, realm: 'example.org' }))).reply;
    // saslauthd + Linux-PAM fails every login through such a file; this daemon used to accept it.
    expect(await ask('typo')).toBeUndefined();
    expect(await ask('smtp')).toBe('OK');
    await daemon.stop();
    const refusal = daemon.records().find((record) => record.code === 'ERR_PAM_CONFIG' && record.event !== 'auth');
    expect(refusal).toMatchObject({ level: 50, reason: expect.stringMatching(/pam\.d\/typo:1: "requird" is not a PAM control .*Linux-PAM would fail every login through this file/) });
  });

  it('answers a PAM file its user cannot read with a temporary failure logged as an error, never a wrong password', async () => {
    const db = database();
    const dir = tempDir();
    const pamDir = path.join(dir, 'pam.d');
    mkdirSync(pamDir);
    // Mode 0000: the daemon's user may not read it (as root:root 0600 is for a daemon running as its own user).
    writeFileSync(path.join(pamDir, 'smtp'), `auth required pam_mysql.so user=${db.user} passwd=${db.password} host=${db.host}:${db.port} db=${db.database} table=mailbox usercolumn=username passwdcolumn=password crypt=1\n`, { mode: 0o000 });
    const args = ['-a', 'pam', '-r', '--pam-dir', pamDir, '-m', path.join(dir, 'run')];
    // Every capability dropped, so file permissions bind the process as they bind an unprivileged user.
    const daemon = process.getuid?.() === 0 ? await spawnDaemon(['--bounding-set=-all', '--inh-caps=-all', process.execPath, CLI, ...args], { program: '/usr/bin/setpriv' }) : await spawnDaemon(args);
    const reply = (await exchange(path.join(dir, 'run', 'mux'), requestFrame({ login: 'alice', password: 'secret', service: 'smtp', realm: 'example.org' }))).reply;
    await daemon.stop();
    expect(reply).toBeUndefined();
    expect(daemon.records().find((record) => record.event === 'auth')).toMatchObject({ level: 50, result: 'temporary-failure', code: 'ERR_PAM_CONFIG', reason: expect.stringMatching(/EACCES|permission denied/i) });
  });
});
