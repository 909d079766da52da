/**
 * Attack: with -a pam the service name picks a file, and it comes from the
 * client. A peer that sends thousands of made-up service names must not grow
 * the daemon's memory or its log without bound, nor push out the real service.
 * Against the real process, over its socket, with a real MariaDB behind smtp.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { spawnDaemon } from '../helpers/cli.js';
import { SECRET_MD5CRYPT, suiteMailboxDatabase } from '../helpers/mysql.js';
import { tempDir } from '../helpers/temp.js';

const NAMES = 5000;
const database = suiteMailboxDatabase([{ username: 'alice@example.org', password: SECRET_MD5CRYPT }]);

describe('-a pam under a flood of made-up service names', () => {
  it('keeps answering smtp, and logs the missing files a few times, not once per name', async () => {
    const db = database();
    const dir = tempDir();
    const pamDir = path.join(dir, 'pam.d');
    mkdirSync(pamDir);
    writeFileSync(path.join(pamDir, 'smtp'), `auth required pam_mysql.so user=${db.user} passwd=${db.password} host=${db.host}:${db.port} db=${db.database} table=mailbox usercolumn=username passwdcolumn=password crypt=1\n`);
    const daemon = await spawnDaemon(['-a', 'pam', '-r', '--pam-dir', pamDir, '-m', path.join(dir, 'run'), '--throttle-after', '0']);
    const socketPath = path.join(dir, 'run', 'mux');
    const ask = (service: string) => exchange(socketPath, requestFrame({ login: 'alice', password: 'secret', service, realm: 'example.org' })).then((r) => r.reply);
    expect(await ask('smtp')).toBe('OK');
    for (let batch = 0; batch < NAMES; batch += 50) {
      const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => ask(`made-up-${batch + i}`)));
      expect(new Set(replies)).toEqual(new Set(['NO authentication failed']));
    }
    expect(await ask('smtp')).toBe('OK');
    await daemon.stop();
    const notUsable = daemon.records().filter((record) => String(record.msg).startsWith('no PAM file for this service'));
    expect(notUsable.length).toBeGreaterThan(0);
    expect(notUsable.length).toBeLessThanOrEqual(5);
    // Every refusal is still in the auth log, one line per login, with its code.
    expect(daemon.records().filter((record) => record.event === 'auth' && record.code === 'ERR_PAM_NO_SERVICE')).toHaveLength(NAMES);
  }, 60_000);
});
