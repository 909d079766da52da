/**
 * "prepare-socket-dirs", the unit's ExecStartPre=+ (run as root): the
 * directory Debian's sasl2-bin leaves for a chrooted Postfix (root:sasl 0710,
 * holding saslauthd's socket and pid file) becomes the daemon user's, group and
 * mode kept, so that the daemon, started as that user, creates its socket
 * there; a missing directory is created; anything else is left alone, and said
 * why. Then a daemon running as that user (setpriv, no capabilities) really
 * serves in the prepared directory.
 */
import { chmodSync, chownSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareSocketDirectory } from '../../src/protocol/socket-directory.js';
import { CLI, run, runCli } from '../helpers/cli.js';
import { DEMO_HASH } from '../helpers/daemon.js';
import { tempDir } from '../helpers/temp.js';

/** An unprivileged user and group every Debian has. */
const NOBODY = 65534;
const NOGROUP = 65534;

const asRoot = process.getuid?.() === 0;
const owned = (dir: string) => {
  const stats = statSync(dir);
  return `${stats.uid}:${stats.gid}:${(stats.mode & 0o7777).toString(8)}`;
};

describe.runIf(asRoot)('preparing the socket directories (as root)', () => {
  it("takes over saslauthd's root:sasl 0710 directory, keeping group and mode, and creates a missing one", () => {
    const spool = tempDir();
    chmodSync(spool, 0o755);
    const saslauthds = path.join(spool, 'saslauthd');
    mkdirSync(saslauthds, { mode: 0o710 });
    chmodSync(saslauthds, 0o710);
    chownSync(saslauthds, 0, NOGROUP);
    writeFileSync(path.join(saslauthds, 'saslauthd.pid'), '123\n');
    expect(prepareSocketDirectory(saslauthds, { uid: NOBODY, gid: NOGROUP })).toEqual({ dir: saslauthds, action: 'taken over' });
    expect(owned(saslauthds)).toBe(`${NOBODY}:${NOGROUP}:710`);
    // Again: nothing to do.
    expect(prepareSocketDirectory(saslauthds, { uid: NOBODY, gid: NOGROUP })).toEqual({ dir: saslauthds, action: 'kept' });

    const missing = path.join(spool, 'new', 'saslauthd-mysql');
    expect(prepareSocketDirectory(missing, { uid: NOBODY, gid: NOGROUP })).toEqual({ dir: missing, action: 'created' });
    expect(owned(missing)).toBe(`${NOBODY}:${NOGROUP}:710`);
    expect(owned(path.dirname(missing))).toBe('0:0:755');
  });

  it('leaves alone a directory that holds other things, is writable by others, belongs to another user, or is a link', () => {
    const spool = tempDir();
    const shared = path.join(spool, 'run');
    mkdirSync(shared, { mode: 0o755 });
    writeFileSync(path.join(shared, 'postfix.pid'), '1\n');
    expect(prepareSocketDirectory(shared, { uid: NOBODY })).toMatchObject({ action: 'left', why: expect.stringMatching(/holds more than a socket directory does \(postfix\.pid\)/) });
    expect(owned(shared)).toMatch(/^0:0:/);

    const writable = path.join(spool, 'writable');
    mkdirSync(writable);
    chmodSync(writable, 0o770);
    expect(prepareSocketDirectory(writable, { uid: NOBODY })).toMatchObject({ action: 'left', why: expect.stringMatching(/writable by others than root \(mode 0770\)/) });

    const someoneElses = path.join(spool, 'other');
    mkdirSync(someoneElses);
    chownSync(someoneElses, 1234, 1234);
    expect(prepareSocketDirectory(someoneElses, { uid: NOBODY })).toMatchObject({ action: 'left', why: expect.stringMatching(/belongs to user 1234/) });
    expect(owned(someoneElses)).toMatch(/^1234:1234:/);
  });

  it('the command prepares the configured run and Dovecot socket directories, and a daemon as that user then serves there', async () => {
    const root = tempDir();
    chmodSync(root, 0o755);
    const runDir = path.join(root, 'spool', 'var', 'run', 'saslauthd');
    mkdirSync(runDir, { recursive: true });
    chmodSync(path.join(root, 'spool'), 0o755);
    chmodSync(path.join(root, 'spool', 'var'), 0o755);
    chmodSync(path.join(root, 'spool', 'var', 'run'), 0o755);
    chownSync(runDir, 0, NOGROUP);
    chmodSync(runDir, 0o710);
    const dovecotSocket = path.join(root, 'spool', 'saslauthd-mysql', 'auth');
    const passwd = path.join(root, 'passwd');
    writeFileSync(passwd, `demo:${DEMO_HASH}\n`);
    chmodSync(passwd, 0o644);
    const env = { ...process.env, SASLAUTHD_MYSQL_RUN_DIR: runDir, SASLAUTHD_MYSQL_DOVECOT_SOCKET: dovecotSocket, SASLAUTHD_MYSQL_SOCKET_GROUP: String(NOGROUP) };

    const prepared = await runCli(['prepare-socket-dirs', '--owner', 'nobody', '-a', 'passwd-file', '-O', passwd], { env });
    expect(prepared.code, prepared.stderr).toBe(0);
    expect(prepared.stdout).toContain(`${runDir} (saslauthd's) now belongs to nobody, group and mode kept`);
    expect(prepared.stdout).toContain(`created ${path.dirname(dovecotSocket)} for nobody`);
    expect(owned(runDir)).toBe(`${NOBODY}:${NOGROUP}:710`);
    expect(owned(path.dirname(dovecotSocket))).toBe(`${NOBODY}:${NOGROUP}:710`);

    // The daemon as nobody, without capabilities, as the unit runs it as its own user.
    const daemon = await run(
      'setpriv',
      ['--reuid', String(NOBODY), '--regid', String(NOGROUP), '--clear-groups', '--bounding-set=-all', '--inh-caps=-all', process.execPath, CLI, 'check', '-a', 'passwd-file', '-O', passwd, '--user', 'demo'],
      { env, timeoutMs: 30_000 },
    );
    expect(daemon.stdout, daemon.stderr).toContain(`socket ${runDir}/mux: nobody can create it there`);
    expect(daemon.code, daemon.stdout + daemon.stderr).toBe(0);
  });

  it('prepares nothing, and says why, when the configuration is refused or the user is unknown', async () => {
    const refused = await runCli(['prepare-socket-dirs', '--owner', 'nobody', '-a', 'passwd-file']);
    expect(refused.code).toBe(0);
    expect(refused.stdout).toMatch(/nothing prepared, the daemon will say why: --passwd-file: required with -a passwd-file/);
    const unknown = await runCli(['prepare-socket-dirs', '--owner', 'no-such-user-here', '-a', 'passwd-file', '-O', 'demo/passwd', '-m', tempDir()]);
    expect(unknown.stdout).toMatch(/nothing prepared, the daemon will say why: .*unknown user "no-such-user-here"/);
  });
});
