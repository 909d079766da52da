/**
 * The RPM for RHEL-family hosts (npm run package:rpm, packaging/build-rpm.ts),
 * read as rpm reads it: no RHEL host boots here, so the package is built with
 * Debian's rpmbuild and checked from outside. rpmlint reports only the tags
 * docs/rhel.md justifies; the headers carry the dependencies RHEL needs; the
 * payload (rpm2cpio) holds the daemon, which runs from it and answers the real
 * testsaslauthd, and units made for RHEL; the scriptlets, run with systemctl
 * and systemd-sysusers replaced by recorders in a private mount namespace, do
 * what Fedora's macros would for an install, an upgrade and an erase.
 * Needs root (mount namespaces); fails, never skips, without it.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRpm, type BuiltRpms } from '../../packaging/build-rpm.js';
import { DEMO_HASH, eventually } from '../helpers/daemon.js';
import { findTestsaslauthd } from '../helpers/cli.js';
import { suiteTempDir } from '../helpers/temp.js';

function rpm(...args: string[]): string {
  return execFileSync('rpm', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

/** The tags rpmlint may still print: each is justified in docs/rhel.md's rpmlint table. */
function justifiedTags(): Set<string> {
  const notes = readFileSync(new URL('../../docs/rhel.md', import.meta.url), 'utf8');
  const section = notes.slice(notes.indexOf('## rpmlint'));
  return new Set([...section.matchAll(/^\| `([a-z0-9-]+)` \|/gm)].map((match) => match[1]!));
}

let built: BuiltRpms;
let work: string;
let payload: string;

describe('the RPM', () => {
  beforeAll(() => {
    expect(process.getuid?.(), 'the scriptlets run in a mount namespace, which needs root').toBe(0);
    const temp = suiteTempDir();
    afterAll(temp.remove);
    work = temp.dir;
    built = buildRpm(work);
    payload = path.join(work, 'payload');
    execFileSync('sh', ['-c', `mkdir -p "${payload}" && cd "${payload}" && rpm2cpio "${built.daemon}" | cpio -idm --quiet && rpm2cpio "${built.selinux}" | cpio -idm --quiet`]);
  }, 600_000);

  it('is accepted by rpmlint but for the tags docs/rhel.md justifies', () => {
    const lint = spawnSync('rpmlint', [built.daemon, built.selinux], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const tags = new Set([...lint.stdout.matchAll(/^\S+: [EW]: ([a-z0-9-]+)/gm)].map((match) => match[1]!));
    expect(tags.size, lint.stdout).toBeGreaterThan(0);
    const justified = justifiedTags();
    expect([...tags].filter((tag) => !justified.has(tag)), lint.stdout).toEqual([]);
  });

  it("needs Node.js 20.12 or newer as RHEL numbers it, the policy module where SELinux's targeted policy is, and declares what it bundles", () => {
    const requires = rpm('-qp', '--requires', built.daemon).split('\n');
    // RHEL's nodejs carries epoch 1: ">= 20.12" without it would accept nodejs 1:16.
    expect(requires).toContain('nodejs >= 1:20.12');
    expect(requires).toContain(`(saslauthd-mysql-selinux = ${rpm('-qp', '--qf', '%{VERSION}-%{RELEASE}', built.daemon)} if selinux-policy-targeted)`);
    expect(requires).toContain('libcrypt.so.1()(64bit)');
    const provides = rpm('-qp', '--provides', built.daemon).split('\n');
    for (const dependency of Object.keys((JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> }).dependencies)) {
      expect(provides.some((line) => line.startsWith(`bundled(nodejs-${dependency}) = `)), dependency).toBe(true);
    }
    const license = rpm('-qp', '--qf', '%{LICENSE}', built.daemon);
    expect(license.split(' AND ')).toEqual(expect.arrayContaining(['MIT', 'Apache-2.0', 'ISC']));
    expect(rpm('-qp', '--qf', '%{LICENSE}', built.selinux)).toBe('MIT');
    expect(rpm('-qp', '--requires', built.selinux)).toMatch(/^selinux-policy-targeted$/m);
  });

  it('lays out the daemon, its units, its settings (a conffile only root and its group read) and its docs', () => {
    const files = rpm('-qp', '--qf', '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]', built.daemon).split('\n');
    const entry = (name: string) => files.find((line) => line.endsWith(` ${name}`));
    expect(entry('/usr/sbin/saslauthd-mysql')).toMatch(/^-rwxr-xr-x root root /);
    expect(entry('/etc/sysconfig/saslauthd-mysql')).toMatch(/^-rw-r----- root saslauthd-mysql cn /);
    expect(entry('/etc/saslauthd-mysql')).toMatch(/^drwxr-x--- root saslauthd-mysql /);
    for (const file of ['/usr/lib/systemd/system/saslauthd-mysql.service', '/usr/lib/systemd/system/saslauthd-mysql.socket', '/usr/lib/systemd/system/saslauthd-mysql-dovecot.socket', '/usr/lib/sysusers.d/saslauthd-mysql.conf', '/usr/share/man/man8/saslauthd-mysql.8.gz', '/usr/lib/saslauthd-mysql/dist/cli/main.js', '/usr/share/doc/saslauthd-mysql-0.1.0/docs/rhel.md']) {
      expect(entry(file), file).toBeDefined();
    }
    for (const addon of ['crypt', 'peer', 'notify', 'listen']) expect(entry(`/usr/lib/saslauthd-mysql/native/build/Release/saslauthd_mysql_${addon}.node`), addon).toBeDefined();
    expect(files.some((line) => /\/usr\/share\/licenses\/saslauthd-mysql-[^/]+\/saslauthd-mysql-[^/]+-bundled-licenses\.txt$/.test(line))).toBe(true);
    // What the daemon never reads stays out: development dependencies, tests, maps, dot-files, C sources.
    const paths = files.map((line) => line.split(' ').pop()!);
    expect(paths.filter((file) => /\/node_modules\/(typescript|vitest|eslint|fast-check)\//.test(file))).toEqual([]);
    expect(paths.filter((file) => /\/node_modules\/.*(\/tests?\/|\.map$|\/\.[^/]+$|\.[ch]$)/.test(file))).toEqual([]);
    expect(rpm('-qpl', built.selinux).split('\n')).toEqual(expect.arrayContaining(['/usr/share/selinux/packages/targeted/saslauthd_mysql.pp.bz2', '/usr/share/selinux/devel/include/distributed/saslauthd_mysql.if']));
  });

  it("ships units made for RHEL: the settings in /etc/sysconfig, no 'sasl' group, saslauthd's socket open as saslauthd's is", () => {
    const unit = readFileSync(path.join(payload, 'usr/lib/systemd/system/saslauthd-mysql.service'), 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/sbin\/saslauthd-mysql$/m);
    expect(unit).toMatch(/^ExecStartPre=\+\/usr\/sbin\/saslauthd-mysql prepare-socket-dirs --owner saslauthd-mysql$/m);
    expect(unit).toMatch(/^EnvironmentFile=-\/etc\/sysconfig\/saslauthd-mysql$/m);
    expect(unit).toMatch(/^Environment=SASLAUTHD_MYSQL_ENVIRONMENT_FILE=\/etc\/sysconfig\/saslauthd-mysql$/m);
    expect(unit).toMatch(/^After=.*mysqld\.service/m);
    const settings = unit.split('\n').filter((line) => !line.startsWith('#'));
    expect(settings.filter((line) => /\bsasl\b|\/etc\/default|\/usr\/local/.test(line))).toEqual([]);
    for (const socket of ['saslauthd-mysql.socket', 'saslauthd-mysql-dovecot.socket']) {
      const text = readFileSync(path.join(payload, 'usr/lib/systemd/system', socket), 'utf8');
      expect(text).toMatch(/^SocketMode=0666$/m);
      expect(text).not.toMatch(/^SocketGroup=/m);
    }
    const sysconfig = readFileSync(path.join(payload, 'etc/sysconfig/saslauthd-mysql'), 'utf8');
    expect(sysconfig).toMatch(/^SASLAUTHD_MYSQL_SASLAUTHD_SYSCONFIG=\/etc\/sysconfig\/saslauthd$/m);
    // systemd's own check, with the commands where the payload has them (it asks that they be executable).
    const units = path.join(work, 'units');
    execFileSync('mkdir', ['-p', units]);
    for (const name of ['saslauthd-mysql.service', 'saslauthd-mysql.socket', 'saslauthd-mysql-dovecot.socket']) {
      writeFileSync(path.join(units, name), readFileSync(path.join(payload, 'usr/lib/systemd/system', name), 'utf8').replaceAll('/usr/sbin/saslauthd-mysql', path.join(payload, 'usr/sbin/saslauthd-mysql')));
    }
    const verify = spawnSync('systemd-analyze', ['verify', '--man=no', '--recursive-errors=no', ...readdirSync(units).map((name) => path.join(units, name))], { encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_LEVEL: 'err' } });
    expect(`${verify.stdout}${verify.stderr}`, 'systemd-analyze verify').toBe('');
    expect(verify.status).toBe(0);
  });

  it('runs from its payload: the wrapper, the distribution\'s node, the bundled modules and addons answer testsaslauthd', async () => {
    const root = path.join(work, 'run');
    execFileSync('mkdir', ['-p', root]);
    const users = path.join(root, 'passwd');
    writeFileSync(users, `alice@example.org:${DEMO_HASH}\n`);
    // The wrapper names /usr/lib/saslauthd-mysql: run the same command line against the payload's copy.
    const wrapper = readFileSync(path.join(payload, 'usr/sbin/saslauthd-mysql'), 'utf8').split('\n').find((line) => line.startsWith('exec '))!;
    const [node, ...args] = wrapper.replace(/^exec /, '').replace('"$@"', '').trim().split(/\s+/);
    expect(node).toBe('/usr/bin/node');
    const main = path.join(payload, args.pop()!);
    expect(readFileSync(main, 'utf8').split('\n')[0]).toBe('#!/usr/bin/node');
    const daemon = spawn(process.execPath, [...args, main, '-a', 'passwd-file', '-O', users, '-r', '-m', root], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    daemon.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
    daemon.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
    try {
      await eventually(() => /listening/.test(log), 15_000);
      expect(log).not.toMatch(/native addon NOT|not built/i);
      const answer = spawnSync(findTestsaslauthd(), ['-f', path.join(root, 'mux'), '-u', 'alice', '-r', 'example.org', '-p', 'demo', '-s', 'smtp'], { encoding: 'utf8' });
      expect(answer.stdout).toMatch(/^0: OK "Success\."/);
    } finally {
      daemon.kill('SIGTERM');
    }
  });

  it('scriptlets: the account before the files; on install a preset, on upgrade a try-restart, on erase a stop, the policy module in and out', () => {
    const bin = path.join(work, 'stubs');
    const calls = path.join(work, 'calls.log');
    execFileSync('mkdir', ['-p', bin]);
    const stub = path.join(bin, 'recorder');
    writeFileSync(stub, `#!/bin/sh\necho "$(basename "$0") $*" >> ${calls}\n[ "$(basename "$0")" = systemd-sysusers ] && cat >> ${calls}\nexit 0\n`);
    chmodSync(stub, 0o755);
    const scriptlet = (file: string, tag: string, arg: number): string[] => {
      writeFileSync(calls, '');
      const text = rpm('-qp', '--qf', `%{${tag}}`, file);
      writeFileSync(path.join(work, 'scriptlet.sh'), text);
      // systemctl and systemd-sysusers replaced by recorders, and /usr/sbin by one holding only
      // recorders (semodule, selinuxenabled, load_policy, restorecon), for this process only.
      const inNamespace = [
        'mount --make-rprivate /',
        `mount -t tmpfs none /usr/sbin`,
        ...['semodule', 'selinuxenabled', 'load_policy', 'restorecon'].map((name) => `cp ${stub} /usr/sbin/${name}`),
        ...['systemctl', 'systemd-sysusers'].map((name) => `cp ${stub} ${bin}/${name} && mount --bind ${bin}/${name} /usr/bin/${name}`),
        `sh ${path.join(work, 'scriptlet.sh')} ${arg}`,
      ];
      execFileSync('unshare', ['-m', 'sh', '-c', inNamespace.join(' && ')]);
      return readFileSync(calls, 'utf8').split('\n').filter(Boolean);
    };
    expect(existsSync('/usr/bin/systemctl') && existsSync('/usr/bin/systemd-sysusers')).toBe(true);
    // %pre: the account, from the sysusers file's own line.
    const pre = scriptlet(built.daemon, 'PREIN', 1);
    expect(pre[0]).toBe('systemd-sysusers --replace=/usr/lib/sysusers.d/saslauthd-mysql.conf -');
    expect(pre).toContain(readFileSync(path.join(payload, 'usr/lib/sysusers.d/saslauthd-mysql.conf'), 'utf8').split('\n').find((line) => line.startsWith('u '))!);
    // %post: a preset on the first install, nothing on an upgrade.
    expect(scriptlet(built.daemon, 'POSTIN', 1)).toEqual(['systemctl --no-reload preset saslauthd-mysql.service saslauthd-mysql.socket saslauthd-mysql-dovecot.socket']);
    expect(scriptlet(built.daemon, 'POSTIN', 2)).toEqual([]);
    // %preun: an erase stops and disables; an upgrade does not.
    expect(scriptlet(built.daemon, 'PREUN', 0)).toEqual(['systemctl --no-reload disable --now saslauthd-mysql.service saslauthd-mysql.socket saslauthd-mysql-dovecot.socket']);
    expect(scriptlet(built.daemon, 'PREUN', 1)).toEqual([]);
    // %postun: an upgrade restarts a running daemon; an erase only reloads systemd.
    expect(scriptlet(built.daemon, 'POSTUN', 1)).toEqual(['systemctl daemon-reload', 'systemctl try-restart saslauthd-mysql.service']);
    expect(scriptlet(built.daemon, 'POSTUN', 0)).toEqual(['systemctl daemon-reload']);
    // The policy module: installed at priority 200 and relabelled; removed on erase only.
    expect(scriptlet(built.selinux, 'POSTIN', 1)).toEqual([
      'semodule -n -s targeted -X 200 -i /usr/share/selinux/packages/targeted/saslauthd_mysql.pp.bz2',
      'selinuxenabled ',
      'load_policy ',
      'restorecon -R /usr/sbin/saslauthd-mysql /usr/lib/saslauthd-mysql /etc/saslauthd-mysql',
    ]);
    expect(scriptlet(built.selinux, 'POSTUN', 1)).toEqual([]);
    expect(scriptlet(built.selinux, 'POSTUN', 0)[0]).toBe('semodule -n -s targeted -X 200 -r saslauthd_mysql');
  });

  it('ships the policy module compiled from packaging/selinux', () => {
    const module = path.join(payload, 'usr/share/selinux/packages/targeted/saslauthd_mysql.pp.bz2');
    execFileSync('sh', ['-c', `bunzip2 -c "${module}" > "${work}/shipped.pp" && semodule_unpackage "${work}/shipped.pp" "${work}/shipped.mod" "${work}/shipped.fc"`]);
    expect(readFileSync(path.join(work, 'shipped.fc'), 'utf8')).toMatch(/saslauthd_mysql_exec_t/);
    expect(readFileSync(path.join(payload, 'usr/share/selinux/devel/include/distributed/saslauthd_mysql.if'), 'utf8')).toBe(readFileSync(new URL('../../packaging/selinux/saslauthd_mysql.if', import.meta.url), 'utf8'));
  });
});
