/**
 * End to end with the real client: Cyrus testsaslauthd (Debian sasl2-bin)
 * against the daemon, started as a process with saslauthd's flags. Every
 * case is also run through our probe, which must print and exit the same.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { findTestsaslauthd, run, runCli, spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { suiteTempDir, tempDir } from '../helpers/temp.js';

/** Hashes made by OpenSSL, not by this project: `openssl passwd -1 -salt SALT PASSWORD`. */
const USERS = [
  // password "secret"
  `alice@example.org:${'$1$Tz0jrTs.$i4ds9UBYKV/H3wBhrJgmv0'}`,
  // password "pässwörd" (UTF-8)
  `jörg@example.org:${'$1$umlaut$jUOFp8uNME95I6.eSGTRf1'}`,
  // login "a@b" in realm example.org: libsasl2 splits "a@b@example.org" at the last "@"
  'a@b@example.org:{PLAIN}two-ats',
  'bare:{PLAIN}bare-password',
];

let testsaslauthd: string;
let hashesMatch: string[];

beforeAll(() => {
  testsaslauthd = findTestsaslauthd();
  // Check the fixture hashes really come from OpenSSL, so this suite cannot drift into testing our code against itself.
  hashesMatch = [
    execFileSync('openssl', ['passwd', '-1', '-salt', 'Tz0jrTs.', 'secret'], { encoding: 'utf8' }).trim(),
    execFileSync('openssl', ['passwd', '-1', '-salt', 'umlaut', 'pässwörd'], { encoding: 'utf8' }).trim(),
  ];
});

interface Case {
  name: string;
  args: string[];
  ok: boolean;
}

const CASES: Case[] = [
  { name: 'right password, user + realm joined by -r', args: ['-u', 'alice', '-r', 'example.org', '-p', 'secret', '-s', 'smtp'], ok: true },
  { name: 'wrong password', args: ['-u', 'alice', '-r', 'example.org', '-p', 'Secret', '-s', 'smtp'], ok: false },
  { name: 'unknown user', args: ['-u', 'mallory', '-r', 'example.org', '-p', 'secret', '-s', 'smtp'], ok: false },
  { name: 'full address with no realm', args: ['-u', 'alice@example.org', '-p', 'secret', '-s', 'smtp'], ok: true },
  { name: 'realm-less user, login unchanged', args: ['-u', 'bare', '-p', 'bare-password', '-s', 'smtp'], ok: true },
  { name: 'login with an "@" plus a realm', args: ['-u', 'a@b', '-r', 'example.org', '-p', 'two-ats', '-s', 'smtp'], ok: true },
  { name: 'non-ASCII login and password', args: ['-u', 'jörg', '-r', 'example.org', '-p', 'pässwörd', '-s', 'smtp'], ok: true },
  { name: 'default service (imap)', args: ['-u', 'alice', '-r', 'example.org', '-p', 'secret'], ok: true },
  { name: 'wrong realm', args: ['-u', 'alice', '-r', 'example.net', '-p', 'secret', '-s', 'smtp'], ok: false },
  { name: 'empty password (NO NULL password received)', args: ['-u', 'alice', '-r', 'example.org', '-p', '', '-s', 'smtp'], ok: false },
  { name: 'login over 256 bytes (NO)', args: ['-u', 'x'.repeat(300), '-p', 'secret', '-s', 'smtp'], ok: false },
];

describe('real testsaslauthd against saslauthd-mysql -a passwd-file -r', () => {
  let daemon: DaemonProcess;
  let socketPath: string;

  beforeAll(async () => {
    const { dir, remove } = suiteTempDir();
    const file = path.join(dir, 'passwd');
    writeFileSync(file, `${USERS.join('\n')}\n`);
    daemon = await spawnDaemon(['-a', 'passwd-file', '-O', file, '-r', '-m', path.join(dir, 'run')], { forSuite: true });
    socketPath = path.join(dir, 'run', 'mux');
    return async () => {
      await daemon.stop();
      remove();
    };
  });

  it('uses fixture hashes made by OpenSSL', () => {
    expect(USERS[0]).toContain(hashesMatch[0]);
    expect(USERS[1]).toContain(hashesMatch[1]);
  });

  for (const testCase of CASES) {
    it(`${testCase.name}: ${testCase.ok ? 'OK' : 'NO'}, and our probe agrees`, async () => {
      const real = await run(testsaslauthd, ['-f', socketPath, ...testCase.args]);
      expect(real.stdout).toBe(testCase.ok ? '0: OK "Success."\n' : '0: NO "authentication failed"\n');
      expect(real.code).toBe(testCase.ok ? 0 : 255);
      const ours = await runCli(['test', '-f', socketPath, ...testCase.args]);
      expect({ stdout: ours.stdout, code: ours.code }).toEqual({ stdout: real.stdout, code: real.code });
    });
  }

  it('logs what testsaslauthd sent: the -r joined user, the service and the realm', async () => {
    await run(testsaslauthd, ['-f', socketPath, '-u', 'alice', '-r', 'example.org', '-p', 'wrong-again', '-s', 'smtp']);
    const events = daemon.records().filter((r) => r.event === 'auth' && r.reason === 'wrong password');
    expect(events.at(-1)).toMatchObject({ user: 'alice@example.org', service: 'smtp', realm: 'example.org', mech: 'passwd-file' });
    expect(daemon.output()).not.toContain('wrong-again');
  });

  it('answers repeated requests (-R) on fresh connections', async () => {
    const real = await run(testsaslauthd, ['-f', socketPath, '-u', 'alice', '-r', 'example.org', '-p', 'secret', '-R', '5']);
    expect(real.stdout).toBe([0, 1, 2, 3, 4].map((i) => `${i}: OK "Success."\n`).join(''));
  });
});

describe('real testsaslauthd when no daemon is running', () => {
  it('fails the same way for testsaslauthd and our probe', async () => {
    const socketPath = path.join(tempDir(), 'mux');
    const real = await run(findTestsaslauthd(), ['-f', socketPath, '-u', 'a', '-p', 'b']);
    const ours = await runCli(['test', '-f', socketPath, '-u', 'a', '-p', 'b']);
    expect(real.code).toBe(255);
    expect({ stdout: ours.stdout, code: ours.code }).toEqual({ stdout: real.stdout, code: real.code });
  });
});
