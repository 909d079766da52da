/**
 * npm run package:rpm: builds saslauthd-mysql-<version>-1.<arch>.rpm and
 * saslauthd-mysql-selinux-<version>-1.noarch.rpm with rpmbuild (Debian's rpm
 * package builds RPMs) and prints their paths, one per line.
 *
 * It lays out an rpmbuild tree as Fedora's Node.js packaging would: the npm
 * tarball (Source0), the production node_modules and their licences
 * (Source1, Source2), the systemd units made for RHEL from the repository's
 * (no "sasl" group there; the settings in /etc/sysconfig), the sysconfig file,
 * the sysusers file, the wrapper, the man page and the SELinux module's
 * sources; then packaging/rpm/saslauthd-mysql.spec.in with its fields filled
 * in. The spec compiles the native addons and the policy module itself.
 * Notes and rpmlint: docs/rhel.md.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { MINIMUM_NODE } from '../src/cli/node-version.js';
import { writeManPage } from './build-man.js';
import { bundledPackages, installProductionModules, NAME, packDaemon, ROOT, run, type BundledPackage } from './stage-daemon.js';

/** RPM's version of ours: npm's pre-release dash becomes a tilde, so 1.0.0~rc1 sorts before 1.0.0. */
export function rpmVersion(version: string): string {
  return version.replace('-', '~');
}

/** An exact edit of a repository file; a text that no longer holds `from` fails the build rather than ship unedited. */
type Edit = readonly [from: string | RegExp, to: string];

function edited(file: string, edits: readonly Edit[]): string {
  let text = readFileSync(path.join(ROOT, file), 'utf8');
  for (const [from, to] of edits) {
    const next = typeof from === 'string' ? text.replaceAll(from, to) : text.replace(from, to);
    if (next === text) throw new Error(`${file}: ${String(from)} not found; update packaging/build-rpm.ts`);
    text = next;
  }
  return text;
}

const DOCS = 'https://github.com/saslauthd-mysql/saslauthd-mysql/blob/main/docs/rhel.md';

/**
 * The units for RHEL: the command in /usr/sbin, the settings in /etc/sysconfig, MySQL's
 * RHEL unit name in After=, and no "sasl" group (RHEL has none: its saslauthd leaves the
 * socket open to local users, 0777 in a 0755 directory, and so does this one, 0666).
 */
const UNIT_EDITS = {
  'saslauthd-mysql.service': [
    ['/usr/local/bin/saslauthd-mysql', `/usr/sbin/${NAME}`],
    ['/etc/default/saslauthd-mysql', `/etc/sysconfig/${NAME}`],
    [/^Documentation=.*$/m, `Documentation=${DOCS}`],
    [/^After=.*$/m, 'After=network-online.target mariadb.service mysqld.service mysql.service'],
    [/^# Listens where Debian's saslauthd does .*\n/m, "# Listens where RHEL's saslauthd does (/run/saslauthd/mux), so Postfix needs no change.\n"],
    [/^# Options come from .*\n# docs\/configuration.md\); the defaults below give saslauthd's "-a pam -r".\n/m, `# Options come from /etc/sysconfig/${NAME} (SASLAUTHD_MYSQL_* variables, see\n# docs/configuration.md), which takes saslauthd's own /etc/sysconfig/saslauthd over.\n`],
    [/^# Its own group reads the configuration[^\n]*\n# password; "sasl" owns the socket[^\n]*\nSupplementaryGroups=sasl\n/m, '# Its own group reads the configuration (root:saslauthd-mysql 0640), which may hold secrets.\n'],
    [/^Environment=.*$/m, `Environment=SASLAUTHD_MYSQL_ENVIRONMENT_FILE=/etc/sysconfig/${NAME}`],
    [/^# \/run\/saslauthd, 0755: access is decided by the socket itself \(saslauthd-mysql:sasl 0660\)\./m, '# /run/saslauthd, 0755, as saslauthd has it on RHEL: the socket is 0666, as saslauthd\'s is open to local users.'],
  ],
  'saslauthd-mysql.socket': [
    [/^Documentation=.*$/m, `Documentation=${DOCS}`],
    ['SocketGroup=sasl\nSocketMode=0660\n', 'SocketMode=0666\n'],
  ],
  'saslauthd-mysql-dovecot.socket': [
    [/^Documentation=.*$/m, `Documentation=${DOCS}`],
    ['SocketGroup=sasl\nSocketMode=0660\n', 'SocketMode=0666\n'],
  ],
} as const satisfies Readonly<Record<string, readonly Edit[]>>;

/** A unit as the RPM ships it (the e2e suite starts the daemon the way this one would). */
export function rhelUnit(unit: keyof typeof UNIT_EDITS): string {
  return edited(`systemd/${unit}`, UNIT_EDITS[unit]);
}

/** The licence tag: ours and every bundled package's, each once, joined as SPDX says. */
function licenseTag(own: string, bundled: readonly BundledPackage[]): string {
  const licenses = [...new Set([own, ...bundled.map((pkg) => pkg.license)])].sort();
  return licenses.map((license) => (/ (OR|AND) /.test(license) && !/^\(.*\)$/.test(license) ? `(${license})` : license)).join(' AND ');
}

function fill(template: string, fields: Readonly<Record<string, string>>): string {
  const text = template.replace(/@([A-Z_]+)@/g, (whole, key: string) => {
    if (!(key in fields)) throw new Error(`spec template: no value for ${whole}`);
    return fields[key]!;
  });
  return text;
}

export interface BuiltRpms {
  readonly daemon: string;
  readonly selinux: string;
  readonly spec: string;
}

export function buildRpm(outDir = path.join(ROOT, 'build'), options: { readonly version?: string } = {}): BuiltRpms {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; license: string };
  const npmVersion = options.version ?? pkg.version;
  const version = rpmVersion(npmVersion);
  const work = path.join(outDir, 'rpm');
  const top = path.join(work, 'top');
  const sources = path.join(top, 'SOURCES');
  rmSync(work, { recursive: true, force: true });
  for (const dir of ['SOURCES', 'SPECS', 'BUILD', 'RPMS', 'SRPMS', 'BUILDROOT']) mkdirSync(path.join(top, dir), { recursive: true });

  // Source0: the daemon as npm packs it; Source1: its production node_modules; Source2: their licences.
  const packed = packDaemon(path.join(work, 'pack'), options.version);
  run('tar', ['-czf', path.join(sources, `${NAME}-${npmVersion}.tgz`), '-C', path.dirname(packed), 'package']);
  installProductionModules(packed);
  run('tar', ['-czf', path.join(sources, `${NAME}-${npmVersion}-nm-prod.tgz`), '-C', packed, 'node_modules']);
  const bundled = bundledPackages(path.join(packed, 'node_modules'));
  writeFileSync(path.join(sources, `${NAME}-${npmVersion}-bundled-licenses.txt`), `${bundled.map((dep) => `${dep.name} ${dep.version}: ${dep.license}`).join('\n')}\n`);

  for (const unit of Object.keys(UNIT_EDITS) as (keyof typeof UNIT_EDITS)[]) writeFileSync(path.join(sources, unit), rhelUnit(unit));
  for (const file of ['saslauthd-mysql.sysconfig', 'saslauthd-mysql.sysusers']) copyFileSync(path.join(ROOT, 'packaging/rpm', file), path.join(sources, file));
  copyFileSync(path.join(ROOT, 'packaging/saslauthd-mysql.sh'), path.join(sources, 'saslauthd-mysql.sh'));
  for (const file of readdirSync(path.join(ROOT, 'packaging/selinux'))) copyFileSync(path.join(ROOT, 'packaging/selinux', file), path.join(sources, file));
  // Compressed already: Debian's brp-compress fails under dash (read -d); RHEL's takes a .gz as it is.
  const manPage = writeManPage(path.join(work, `${NAME}.8`), new Date().toISOString().slice(0, 10));
  writeFileSync(path.join(sources, `${NAME}.8.gz`), gzipSync(readFileSync(manPage), { level: 9 }));

  const sysusers = readFileSync(path.join(ROOT, 'packaging/rpm/saslauthd-mysql.sysusers'), 'utf8')
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .join('\n');
  const spec = path.join(top, 'SPECS', `${NAME}.spec`);
  const date = new Date().toUTCString().replace(/^(\w+), (\d+) (\w+) (\d+).*$/, '$1 $3 $2 $4');
  writeFileSync(
    spec,
    fill(readFileSync(path.join(ROOT, 'packaging/rpm/saslauthd-mysql.spec.in'), 'utf8'), {
      VERSION: version,
      NPM_VERSION: npmVersion,
      LICENSE: licenseTag(pkg.license, bundled),
      NODE_MIN: `${MINIMUM_NODE.major}.${MINIMUM_NODE.minor}`,
      BUNDLED_PROVIDES: bundled.map((dep) => `Provides:       bundled(nodejs-${dep.name}) = ${rpmVersion(dep.version)}`).join('\n'),
      SYSUSERS: sysusers,
      DATE: date,
    }),
  );

  // --nodeps: this is not an RPM system, so the BuildRequires (RHEL's package names) are met
  // by Debian's packages instead. No debuginfo: Debian's rpm has no find-debuginfo.
  const defines = { _topdir: top, debug_package: '%{nil}' };
  const rpmbuild = spawnSync('rpmbuild', ['-bb', '--nodeps', ...Object.entries(defines).flatMap(([name, value]) => ['--define', `${name} ${value}`]), spec], { cwd: ROOT, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } });
  // rpmbuild traces every command on standard error: shown only when it fails.
  if (rpmbuild.status !== 0) throw new Error(`rpmbuild failed (${rpmbuild.status ?? rpmbuild.signal}):\n${`${rpmbuild.stdout}${rpmbuild.stderr}`.slice(-6000)}`);
  const arch = run('rpm', ['--eval', '%{_arch}']).trim();
  const daemon = path.join(top, 'RPMS', arch, `${NAME}-${version}-1.${arch}.rpm`);
  const selinux = path.join(top, 'RPMS', 'noarch', `${NAME}-selinux-${version}-1.noarch.rpm`);
  for (const file of [daemon, selinux]) if (!existsSync(file)) throw new Error(`rpmbuild made no ${file}`);
  return { daemon, selinux, spec };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const built = buildRpm();
  console.log(`${built.daemon}\n${built.selinux}`);
}
