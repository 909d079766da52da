/**
 * "check" run as root for the installed service runs its second half (the
 * settings' files and the lookup) as the service's user, through setpriv:
 * here as nobody, against a passwd-file root can read and nobody cannot.
 * (The whole path, from the unit's settings to the report, runs in the
 * real-systemd suite: test/systemd/migration-journey.test.ts.)
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkAsAccount, parseFindings, programFile } from '../../src/cli/check-as-service.js';
import { tempDir } from '../helpers/temp.js';

const NOBODY = { name: 'nobody', uid: 65534, gid: 65534 };
const HEADER = { kind: 'ok', text: "the settings' files and the lookup checked as nobody (uid 65534, gid 65534), the service's user" };

/** Root with setpriv, and a checkout nobody can run the program from: what this test needs of the machine. */
function whyNot(): string | undefined {
  if (process.geteuid?.() !== 0) return 'needs root (CI runs as root)';
  const probe = spawnSync('setpriv', [`--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--init-groups', '--', process.execPath, '-e', `require('node:fs').accessSync(${JSON.stringify(programFile())})`], { encoding: 'utf8' });
  if (probe.error) return `setpriv: ${probe.error.message}`;
  return probe.status === 0 ? undefined : `nobody cannot read ${programFile()} (${probe.stderr.trim().split('\n')[0]})`;
}

const unavailable = whyNot();
// Outside CI a machine may lack what this needs, and the suite says so; in CI (root, setpriv) it must run.
const skipped = unavailable !== undefined && process.env.CI !== 'true';
if (skipped) console.log(`check-as-service: skipped: ${unavailable}`);

describe.skipIf(skipped)('check as the service user', () => {
  it('can run here', () => {
    expect(unavailable).toBeUndefined();
  });

  function passwdFile(mode: number): string {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const file = path.join(dir, 'passwd');
    copyFileSync(path.join(import.meta.dirname, '../../demo/passwd'), file);
    chmodSync(file, mode);
    mkdirSync(path.join(dir, 'run'), { mode: 0o755 });
    return file;
  }

  const settings = (file: string) => ({ SASLAUTHD_MYSQL_MECH: 'passwd-file', SASLAUTHD_MYSQL_PASSWD_FILE: file, SASLAUTHD_MYSQL_RUN_DIR: path.join(path.dirname(file), 'run') });
  const options = { user: 'demo@example.org', realm: '', service: 'smtp', timeoutMs: 5000 };

  it('finds what root could read and the service user cannot', async () => {
    const file = passwdFile(0o600);
    const child = await checkAsAccount(NOBODY, settings(file), options);
    expect(child).toEqual({ ran: true, findings: [HEADER, { kind: 'problem', text: `cannot read passwd-file ${file}: Permission denied (ERR_PASSWD_FILE)` }] });
  });

  it('looks the user up as that user when it can read', async () => {
    const child = await checkAsAccount(NOBODY, settings(passwdFile(0o644)), options);
    expect(child.ran).toBe(true);
    expect(child.ran && child.findings).toEqual([HEADER, { kind: 'ok', text: expect.stringMatching(/^user demo@example\.org \(service smtp\): found in [\d.]+ ms; stored value is MD5-CRYPT/) as string }]);
  });

  it('gets only the environment it is given: the caller\'s own settings do not leak in', async () => {
    process.env.SASLAUTHD_MYSQL_PASSWD_FILE = '/nonexistent/from-the-caller';
    try {
      const child = await checkAsAccount(NOBODY, settings(passwdFile(0o644)), options);
      expect(child.ran && child.findings.map((finding) => finding.kind)).toEqual(['ok', 'ok']);
    } finally {
      delete process.env.SASLAUTHD_MYSQL_PASSWD_FILE;
    }
  });

  it('says it did not run when the process is not the account asked for', async () => {
    const child = await checkAsAccount({ ...NOBODY, name: 'someone-else' }, settings(passwdFile(0o644)), options);
    expect(child).toMatchObject({ ran: false, why: expect.stringMatching(/^exit status [01]/) as string });
  });
});

describe('the second process\'s report', () => {
  it('keeps the finding lines in order and drops the rest', () => {
    expect(parseFindings('ok: one\nwarn: two\nnoise\nproblem: three\n1 warning(s): the daemon would start\n')).toEqual([
      { kind: 'ok', text: 'one' },
      { kind: 'warn', text: 'two' },
      { kind: 'problem', text: 'three' },
    ]);
  });
});
