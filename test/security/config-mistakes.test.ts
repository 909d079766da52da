/**
 * Configuration mistakes that would fail every login, or put a secret on the
 * terminal, are refused at start-up by the real process with a message that
 * names the setting and never repeats the value.
 */
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli, spawnDaemon } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const BASE = 'hosts = 127.0.0.1:1\ndatabase = postfix\nuser = sasl\n';

async function start(configText: string) {
  const dir = tempDir();
  const conf = path.join(dir, 'db.conf');
  writeFileSync(conf, configText, { mode: 0o600 });
  return runCli(['-a', 'mysql', '-O', conf, '-m', path.join(dir, 'run')]);
}

describe('configuration mistakes', () => {
  it("refuses a password_query with placeholders inside one quoted string ('%n@%d' would never match)", async () => {
    const result = await start(`${BASE}password = pw\npassword_query = SELECT password FROM mailbox WHERE username = '%n@%d'\n`);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/password_query: %n inside a longer quoted string is not replaced by a value; quote each placeholder on its own/);
  });

  it('still takes quoted placeholders on their own and CONCAT of them', async () => {
    const dir = tempDir();
    const conf = path.join(dir, 'db.conf');
    writeFileSync(conf, `${BASE}password = pw\npassword_query = SELECT password FROM mailbox WHERE username = CONCAT('%n', '@', '%d') AND 'it''s %%' <> "%s"\n`, { mode: 0o600 });
    // spawnDaemon waits until it listens: the query was accepted.
    const daemon = await spawnDaemon(['-a', 'mysql', '-O', conf, '-m', path.join(dir, 'run')]);
    await daemon.stop();
  });

  it('never repeats a value that does not parse: a password on the wrong line stays off the terminal', async () => {
    for (const line of ['connect_timeout = S3cret-On-The-Wrong-Line', 'tls = S3cret-On-The-Wrong-Line', 'default_scheme = S3cret-On-The-Wrong-Line']) {
      const result = await start(`${BASE}password = pw\ntable = mailbox\n${line}\n`);
      expect(result.code, line).toBe(1);
      expect(result.stderr, line).toMatch(/configuration error: .*db\.conf:\d+: .*the value is not repeated here/);
      expect(result.stderr + result.stdout, line).not.toContain('S3cret');
    }
  });
});
