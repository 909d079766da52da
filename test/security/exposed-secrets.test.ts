/**
 * A file holding the database password that other users can read is how the
 * password leaks on a shared host. The real process must say so at start (or
 * when -a pam first reads the service file), naming the file and the fix, and
 * say nothing for a file only it can read.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { spawnDaemon } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const exposedLines = (records: Array<Record<string, unknown>>) => records.filter((record) => /holds the database password/.test(String(record.msg)));

describe('files holding the database password', () => {
  it('-a mysql: warns about a world-readable -O file and password_file, not about mode 0600', async () => {
    const dir = tempDir();
    const conf = path.join(dir, 'db.conf');
    const secret = path.join(dir, 'db.secret');
    writeFileSync(secret, 'pw\n');
    writeFileSync(conf, 'hosts = 127.0.0.1:1\ndatabase = postfix\nuser = sasl\npassword = pw\ntable = mailbox\n');
    chmodSync(conf, 0o644);
    const loose = await spawnDaemon(['-a', 'mysql', '-O', conf, '-m', path.join(dir, 'run1')]);
    await loose.stop();
    expect(exposedLines(loose.records()).map((record) => record.msg)).toEqual([expect.stringMatching(new RegExp(`^${conf} holds the database password and is readable by every user on this host \\(mode 0644\\): chmod 0640 it with the daemon`))]);

    chmodSync(conf, 0o600);
    const tight = await spawnDaemon(['-a', 'mysql', '-O', conf, '-m', path.join(dir, 'run2')]);
    await tight.stop();
    expect(exposedLines(tight.records())).toEqual([]);

    writeFileSync(conf, `hosts = 127.0.0.1:1\ndatabase = postfix\nuser = sasl\npassword_file = ${secret}\ntable = mailbox\n`);
    chmodSync(secret, 0o644);
    const viaFile = await spawnDaemon(['-a', 'mysql', '-O', conf, '-m', path.join(dir, 'run3')]);
    await viaFile.stop();
    expect(exposedLines(viaFile.records()).map((record) => record.msg)).toEqual([expect.stringContaining(`${secret} holds the database password (password_file)`)]);
  });

  it('-a pam: warns about a world-readable PAM file with passwd= when it is read, not about mode 0600', async () => {
    const dir = tempDir();
    const pamDir = path.join(dir, 'pam.d');
    mkdirSync(pamDir);
    const line = 'auth required pam_mysql.so user=sasl passwd=pw host=127.0.0.1:1 db=postfix table=mailbox usercolumn=username passwdcolumn=password crypt=1\n';
    for (const [service, mode] of [['smtp', 0o644], ['imap', 0o600]] as const) {
      writeFileSync(path.join(pamDir, service), line);
      chmodSync(path.join(pamDir, service), mode);
    }
    const daemon = await spawnDaemon(['-a', 'pam', '--pam-dir', pamDir, '-m', path.join(dir, 'run'), '--answer-timeout', '3000']);
    for (const service of ['smtp', 'imap']) await exchange(path.join(dir, 'run', 'mux'), requestFrame({ login: 'alice', password: 'x', service, realm: '' }), { timeoutMs: 8000 });
    await daemon.stop();
    expect(exposedLines(daemon.records()).map((record) => record.file)).toEqual([path.join(pamDir, 'smtp')]);
  });
});
