/**
 * Attack: a login that carries "] [" or a bidi override, so the
 * saslauthd-shaped log line shows fields the daemon never wrote (a forged
 * service or reason for a reader, or for a filter that reads the text).
 * Against the real process, over its socket.
 */
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { spawnDaemon } from '../helpers/cli.js';
import { DEMO_HASH } from '../helpers/daemon.js';
import { tempDir } from '../helpers/temp.js';

describe('log forgery through a login name', () => {
  it('escapes brackets, line separators and bidi controls in the text form; the JSON keeps the name as sent', async () => {
    const dir = tempDir();
    const passwd = path.join(dir, 'passwd');
    writeFileSync(passwd, `demo@example.org:${DEMO_HASH}\n`);
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-r', '-m', path.join(dir, 'run')]);
    const socketPath = path.join(dir, 'run', 'mux');
    const forged = [
      'x] [service=imap] [realm=trusted] [mech=pam] [reason=ok',
      'mallory\u2028auth success: [user=root]',
      'gro\u202eup.evil',
    ];
    for (const login of forged) {
      expect((await exchange(socketPath, requestFrame({ login, password: 'guess', service: 'smtp', realm: 'example.org' }))).reply).toBe('NO authentication failed');
    }
    await daemon.stop();
    const failures = daemon.records().filter((record) => record.event === 'auth');
    expect(failures.map((record) => record.user)).toEqual(forged.map((login) => `${login}@example.org`));
    for (const record of failures) {
      const message = String(record.msg);
      // Exactly the fields the daemon wrote, once each, and nothing that reorders or breaks the line.
      expect(message.match(/\[(user|service|realm|mech|reason)=/g)).toEqual(['[user=', '[service=', '[realm=', '[mech=', '[reason=']);
      expect(message).toMatch(/^auth failure: \[user=[^\]]*\] \[service=smtp\] \[realm=example\.org\] \[mech=passwd-file\] \[reason=unknown user\]$/);
      expect(message).not.toMatch(/[\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    }
    expect(String(failures[0]!.msg)).toContain('[user=x\\u{5d} \\u{5b}service=imap\\u{5d}');
  });
});
