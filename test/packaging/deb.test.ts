/**
 * The Debian package (npm run package:deb, packaging/build-deb.ts), on this
 * machine for real: lintian reports no error and only the warnings
 * docs/packaging.md justifies; dpkg -i installs it; the daemon runs from /usr
 * as its own user against a passwd-file and answers the real testsaslauthd;
 * dpkg -r removes it but its conffiles, and dpkg -P leaves nothing behind
 * but the system account (Debian's practice: files the administrator gave its
 * group must not fall to the next new group).
 * Needs root (CI runs as root); fails, never skips, without it.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDeb } from '../../packaging/build-deb.js';
import { afterThisTest } from '../helpers/cleanup.js';
import { DEMO_HASH, eventually } from '../helpers/daemon.js';
import { findTestsaslauthd } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const PACKAGE = 'saslauthd-mysql';
/**
 * Where the package puts files or its scripts may, and the account database: compared before
 * install and after purge. Not all of /etc: other suites running beside this one write PAM files.
 */
const WATCHED = ['/usr/lib', '/usr/sbin', '/usr/share/doc', '/usr/share/man/man8', '/lib/systemd/system', '/etc/default', '/etc/fail2ban', '/etc/systemd', '/etc/sysusers.d', '/etc/saslauthd-mysql'];

function snapshot(): string[] {
  const files = WATCHED.filter(existsSync).flatMap((dir) => spawnSync('find', [dir, '-xdev'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).stdout.split('\n'));
  const accounts = ['passwd', 'group'].flatMap((db) => spawnSync('getent', [db], { encoding: 'utf8' }).stdout.split('\n').map((line) => `${db}:${line.split(':')[0]}`));
  return [...files, ...accounts].filter(Boolean).sort();
}

function dpkg(...args: string[]): string {
  return execFileSync('dpkg', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The tags lintian may still print as warnings: each is justified in docs/packaging.md. */
function justifiedWarnings(): Set<string> {
  const notes = readFileSync(new URL('../../docs/packaging.md', import.meta.url), 'utf8');
  const section = notes.slice(notes.indexOf('## lintian'));
  return new Set([...section.matchAll(/^\| `([a-z0-9-]+)` \|/gm)].map((match) => match[1]!));
}

describe('the Debian package', () => {
  it('installs, serves a login from /usr as its own user, and removes and purges cleanly', async () => {
    expect(process.getuid?.(), 'dpkg -i needs root').toBe(0);
    expect(spawnSync('dpkg', ['-s', PACKAGE]).status, `${PACKAGE} is installed already: dpkg -P it first`).not.toBe(0);
    const deb = buildDeb(tempDir());
    expect(path.basename(deb)).toMatch(/^saslauthd-mysql_[\w.~+-]+_[a-z0-9]+\.deb$/);

    // What it holds and what it needs.
    const fields = dpkg('-f', deb);
    expect(fields).toMatch(/^Depends: nodejs \(>= 20\.12\), .*libc6/m);
    // docs/packaging.md shows the line as it is, on amd64.
    if (spawnSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).stdout.trim() === 'amd64') {
      const documented = /^ {4}(nodejs .*)$/m.exec(readFileSync(new URL('../../docs/packaging.md', import.meta.url), 'utf8'))?.[1];
      expect(documented).toBe(/^Depends: (.*)$/m.exec(fields)?.[1]);
    }
    expect(fields).not.toMatch(/^Conflicts:/m);
    const contents = dpkg('-c', deb);
    for (const file of ['./usr/sbin/saslauthd-mysql', './usr/lib/saslauthd-mysql/dist/cli/main.js', './usr/lib/saslauthd-mysql/native/build/Release/saslauthd_mysql_crypt.node', './usr/lib/saslauthd-mysql/native/build/Release/saslauthd_mysql_peer.node', './usr/lib/saslauthd-mysql/native/build/Release/saslauthd_mysql_notify.node', './usr/lib/saslauthd-mysql/native/build/Release/saslauthd_mysql_listen.node', './lib/systemd/system/saslauthd-mysql.service', './lib/systemd/system/saslauthd-mysql.socket', './usr/lib/sysusers.d/saslauthd-mysql.conf', './etc/default/saslauthd-mysql', './etc/fail2ban/filter.d/saslauthd-mysql.conf', './usr/share/man/man8/saslauthd-mysql.8.gz', './usr/share/doc/saslauthd-mysql/copyright', './usr/share/doc/saslauthd-mysql/examples/saslauthd-mysql.conf']) {
      expect(contents, file).toContain(file);
    }
    // Production dependencies only.
    expect(contents).not.toMatch(/node_modules\/(vitest|typescript|eslint|testcontainers|tsx)\//);

    // lintian: no error; each warning one the packaging notes justify.
    const lintian = spawnSync('lintian', ['--no-tag-display-limit', deb], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    const tags = lintian.stdout.split('\n').filter(Boolean);
    expect(tags.filter((line) => line.startsWith('E:')), lintian.stdout).toEqual([]);
    const justified = justifiedWarnings();
    const unjustified = [...new Set(tags.filter((line) => line.startsWith('W:')).map((line) => / (\S+)(?: |$)/.exec(line.replace(/^W: [^:]+: /, ' '))![1]!))].filter((tag) => !justified.has(tag));
    expect(unjustified, lintian.stdout).toEqual([]);

    const before = snapshot();
    const hadAccount = before.includes(`passwd:${PACKAGE}`);
    afterThisTest(() => {
      spawnSync('dpkg', ['-P', PACKAGE]);
      // The account purge keeps is this test's doing: undone so the machine is as it was.
      if (!hadAccount) spawnSync('userdel', [PACKAGE]);
    });
    const installed = spawnSync('dpkg', ['-i', deb], { encoding: 'utf8' });
    expect(installed.status, installed.stderr).toBe(0);
    expect(installed.stdout).toContain('neither enabled nor started');
    expect(spawnSync('id', ['-nG', PACKAGE], { encoding: 'utf8' }).stdout).toMatch(/\bsasl\b/);
    // The defaults file may hold secrets: root writes it, the service's group reads it, nobody else.
    expect(execFileSync('stat', ['-c', '%U:%G:%a', '/etc/default/saslauthd-mysql'], { encoding: 'utf8' }).trim()).toBe(`root:${PACKAGE}:640`);

    // The daemon from /usr, as its own user, on a passwd-file it can read and a socket directory it owns.
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const passwd = path.join(dir, 'passwd');
    writeFileSync(passwd, `demo:${DEMO_HASH}\n`, { mode: 0o640 });
    const uid = Number(execFileSync('id', ['-u', PACKAGE], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', PACKAGE], { encoding: 'utf8' }));
    chownSync(passwd, 0, gid);
    const runDir = path.join(dir, 'run');
    execFileSync('install', ['-d', '-o', String(uid), '-g', String(gid), '-m', '0755', runDir]);
    const daemon = spawn('runuser', ['-u', PACKAGE, '--', '/usr/sbin/saslauthd-mysql', '-a', 'passwd-file', '-O', passwd, '-m', runDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    daemon.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const stopped = new Promise((resolve) => daemon.once('exit', resolve));
    try {
      await eventually(() => existsSync(path.join(runDir, 'mux')) || daemon.exitCode !== null, 20_000);
      expect(daemon.exitCode, log).toBeNull();
      const testsaslauthd = findTestsaslauthd();
      const right = spawnSync(testsaslauthd, ['-u', 'demo', '-p', 'demo', '-f', path.join(runDir, 'mux')], { encoding: 'utf8' });
      expect(right.stdout).toContain('0: OK "Success."');
      const wrong = spawnSync(testsaslauthd, ['-u', 'demo', '-p', 'nope', '-f', path.join(runDir, 'mux')], { encoding: 'utf8' });
      expect(wrong.stdout).toContain('0: NO "authentication failed"');
      // It runs as the package's user, not root.
      expect(execFileSync('ps', ['-o', 'user=', '--ppid', String(daemon.pid)], { encoding: 'utf8' }).trim()).toBe(PACKAGE);
    } finally {
      daemon.kill('SIGTERM');
      await stopped;
    }
    expect(spawnSync('man', ['-w', PACKAGE], { encoding: 'utf8' }).stdout.trim()).toBe('/usr/share/man/man8/saslauthd-mysql.8.gz');

    // Remove: the files go, the conffiles stay; purge: nothing is left but the account.
    expect(spawnSync('dpkg', ['-r', PACKAGE]).status).toBe(0);
    expect(existsSync('/usr/lib/saslauthd-mysql')).toBe(false);
    expect(existsSync('/usr/sbin/saslauthd-mysql')).toBe(false);
    expect(existsSync('/etc/default/saslauthd-mysql')).toBe(true);
    expect(spawnSync('dpkg', ['-P', PACKAGE]).status).toBe(0);
    const after = snapshot();
    const account = hadAccount ? [] : [`group:${PACKAGE}`, `passwd:${PACKAGE}`];
    expect(after.filter((entry) => !before.includes(entry))).toEqual(account);
    expect(before.filter((entry) => !after.includes(entry))).toEqual([]);
  }, 600_000);
});
