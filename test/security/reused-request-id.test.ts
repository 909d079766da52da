/**
 * Attack: reuse a Dovecot request id. AUTH 1 with the right password,
 * CANCEL 1, AUTH 1 again with another user's name and a wrong password: the
 * cancelled request's verdict must never come back as the answer to the
 * second one. Against the real process, on its Dovecot socket.
 */
import net from 'node:net';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { spawnDaemon } from '../helpers/cli.js';
import { DEMO_HASH, eventually } from '../helpers/daemon.js';
import { tempDir } from '../helpers/temp.js';

/** "secret" at 999,999 rounds: a check of bob's takes a good fraction of a second, longer than alice's. */
const SLOW_SECRET = '$6$rounds=999999$abcdefgh$WYYPpuxihcdVf1kTzTn5jqnuH4E9cya05kDRy7/lNfxjxon0vXk8pQTkrdBOZKRHjsFt82EufUpSU.jVJARS71';
const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('a reused Dovecot request id', () => {
  it("never gets the answer of the request it replaced", async () => {
    const dir = tempDir();
    const passwd = path.join(dir, 'passwd');
    writeFileSync(passwd, `alice:${DEMO_HASH}\nbob:${SLOW_SECRET}\n`);
    const auth = path.join(dir, 'auth');
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-m', path.join(dir, 'run'), '--dovecot-socket', auth, '--throttle-after', '0']);
    const socket = net.connect({ path: auth });
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    // In one write, as a client that reuses ids would send them.
    socket.write(['VERSION\t1\t0', 'CPID\t1', `AUTH\t1\tPLAIN\tservice=smtp\tresp=${b64('\0alice\0demo')}`, 'CANCEL\t1', `AUTH\t1\tPLAIN\tservice=smtp\tresp=${b64('\0bob\0wrong')}`, ''].join('\n'));
    await eventually(() => /\n(OK|FAIL)\t1\t/.test(received), 10_000, 20);
    // Give a stray second answer its chance to arrive.
    await eventually(() => daemon.records().filter((r) => r.event === 'auth' && r.user === 'bob').length === 1, 10_000, 20);
    const answers = received.split('\n').filter((line) => /^(OK|FAIL)\t/.test(line));
    expect(answers).toEqual(['FAIL\t1\treason=authentication failed']);
    socket.destroy();
    await daemon.stop();
  }, 30_000);
});
