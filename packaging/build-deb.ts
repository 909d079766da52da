/**
 * npm run package:deb: builds saslauthd-mysql_<version>_<arch>.deb with
 * Debian's own dpkg-deb and prints its path as the last line.
 *
 * What goes in: what `npm pack` ships (the built daemon), its production
 * dependencies installed by `npm ci --omit=dev` (which compiles the native
 * addon for this architecture), the systemd units with ExecStart pointed at
 * /usr/sbin/saslauthd-mysql, the sysusers file, /etc/default/saslauthd-mysql
 * and the fail2ban filter as conffiles, the example configuration, the docs
 * and saslauthd-mysql(8). Depends: nodejs (>= 20.12) and the packages owning
 * the shared libraries the native code links to (found with ldd and dpkg -S).
 * Maintainer scripts: packaging/debian/. Notes and lintian: docs/packaging.md.
 */
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { MINIMUM_NODE } from '../src/cli/node-version.js';
import { writeManPage } from './build-man.js';
import { installProductionModules, NAME, packDaemon, put, ROOT, run, walk } from './stage-daemon.js';

const LIB = `usr/lib/${NAME}`;

/** Debian's version of ours: npm's pre-release dash becomes a tilde, so 1.0.0~rc1 sorts before 1.0.0. */
function debianVersion(version: string): string {
  return `${version.replace('-', '~')}-1`;
}

/** The packages that own the shared libraries these ELF files link to (libc and friends, libcrypt for the addon). */
function sharedLibraryPackages(files: readonly string[]): string[] {
  const packages = new Set<string>();
  for (const file of files) {
    for (const match of run('ldd', [file]).matchAll(/=>\s+(\/\S+)/g)) {
      const library = match[1]!;
      let owner: string;
      try {
        owner = run('dpkg', ['-S', library]);
      } catch {
        // /lib is a link to /usr/lib on a merged-/usr system: dpkg knows the file by the other name.
        owner = run('dpkg', ['-S', library.startsWith('/usr/') ? library.slice(4) : `/usr${library}`]);
      }
      packages.add(owner.split(':')[0]!.trim());
    }
  }
  return [...packages].sort();
}

/** Who the package names as its maintainer: Debian's DEBFULLNAME and DEBEMAIL, as dch reads them. */
function maintainer(): string {
  const name = process.env.DEBFULLNAME ?? 'saslauthd-mysql maintainers';
  const email = process.env.DEBEMAIL ?? 'saslauthd-mysql@example.org';
  return `${name} <${email}>`;
}

export function buildDeb(outDir = path.join(ROOT, 'build'), options: { readonly version?: string } = {}): string {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string; description: string; license?: string; homepage?: string };
  // Another version than package.json's (the upgrade test installs one package over another).
  if (options.version) pkg.version = options.version;
  const arch = run('dpkg', ['--print-architecture']).trim();
  const version = debianVersion(pkg.version);
  const MAINTAINER = maintainer();
  const work = path.join(outDir, 'deb');
  const stage = path.join(work, 'root');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });

  // The daemon as npm ships it, with its production dependencies and the addon compiled here.
  const lib = path.join(stage, LIB);
  mkdirSync(path.dirname(lib), { recursive: true });
  cpSync(packDaemon(work, options.version), lib, { recursive: true });
  installProductionModules(lib);
  run(process.execPath, ['native/build.mjs'], lib);
  // What the running daemon does not read: the docs go to /usr/share/doc, the rest is build material.
  for (const unused of ['docs', 'demo', 'systemd', 'CHANGELOG.md', 'package-lock.json', 'native/src', 'native/binding.gyp', 'native/build.mjs']) rmSync(path.join(lib, unused), { recursive: true, force: true });
  for (const entry of readdirSync(path.join(lib, 'native', 'build'))) if (entry !== 'Release') rmSync(path.join(lib, 'native', 'build', entry), { recursive: true, force: true });
  for (const entry of readdirSync(path.join(lib, 'native', 'build', 'Release'))) if (!entry.endsWith('.node')) rmSync(path.join(lib, 'native', 'build', 'Release', entry), { recursive: true, force: true });
  const elf = walk(lib).filter((file) => file.endsWith('.node'));
  for (const file of elf) run('strip', ['--strip-unneeded', '--remove-section=.comment', '--remove-section=.note', file]);
  // Scripts (a #! line) executable, everything else (shared objects included) not.
  for (const file of walk(lib)) chmodSync(file, readFileSync(file).subarray(0, 2).toString() === '#!' ? 0o755 : 0o644);
  // The command line of an npm install (env -S) is not Debian's: the package runs Debian's node directly.
  const main = path.join(lib, 'dist/cli/main.js');
  writeFileSync(main, readFileSync(main, 'utf8').replace(/^#!.*\n/, '#!/usr/bin/node\n'));

  put(stage, `usr/sbin/${NAME}`, readFileSync(path.join(ROOT, 'packaging/saslauthd-mysql.sh')), 0o755);

  // systemd: the units as the repository has them, with the command where the package puts it.
  for (const unit of ['saslauthd-mysql.service', 'saslauthd-mysql.socket', 'saslauthd-mysql-dovecot.socket']) {
    const text = readFileSync(path.join(ROOT, 'systemd', unit), 'utf8').replaceAll('/usr/local/bin/saslauthd-mysql', `/usr/sbin/${NAME}`);
    put(stage, `lib/systemd/system/${unit}`, text);
  }
  put(stage, `usr/lib/sysusers.d/${NAME}.conf`, readFileSync(path.join(ROOT, 'systemd/saslauthd-mysql.sysusers')));
  const conffiles = [`/etc/default/${NAME}`, `/etc/fail2ban/filter.d/${NAME}.conf`];
  // Secrets may go in it: unreadable to others from the moment it is unpacked (postinst gives it the service's group).
  put(stage, `etc/default/${NAME}`, readFileSync(path.join(ROOT, 'systemd/saslauthd-mysql.default')), 0o640);
  put(stage, `etc/fail2ban/filter.d/${NAME}.conf`, readFileSync(path.join(ROOT, 'docs/examples/fail2ban/filter.d/saslauthd-mysql.conf')));

  // Documentation: the docs, the example configuration, copyright, Debian's changelog, the man page.
  const doc = `usr/share/doc/${NAME}`;
  for (const file of readdirSync(path.join(ROOT, 'docs')).filter((name) => name.endsWith('.md'))) put(stage, `${doc}/${file}`, readFileSync(path.join(ROOT, 'docs', file)));
  put(stage, `${doc}/README.md`, readFileSync(path.join(ROOT, 'README.md')));
  put(stage, `${doc}/changelog.gz`, gzipSync(readFileSync(path.join(ROOT, 'CHANGELOG.md')), { level: 9 }));
  for (const example of walk(path.join(ROOT, 'docs/examples'))) put(stage, `${doc}/examples/${path.relative(path.join(ROOT, 'docs/examples'), example)}`, readFileSync(example));
  put(stage, `${doc}/copyright`, readFileSync(path.join(ROOT, 'packaging/debian/copyright')));
  const date = run('date', ['-R']).trim();
  put(stage, `${doc}/changelog.Debian.gz`, gzipSync(`${NAME} (${version}) unstable; urgency=medium\n\n  * Built from the repository by npm run package:deb.\n\n -- ${MAINTAINER}  ${date}\n`, { level: 9 }));
  const manPage = writeManPage(path.join(work, `${NAME}.8`), new Date().toISOString().slice(0, 10));
  put(stage, `usr/share/man/man8/${NAME}.8.gz`, gzipSync(readFileSync(manPage), { level: 9 }));

  // Control files.
  const control = path.join(stage, 'DEBIAN');
  mkdirSync(control);
  const installedKb = Math.ceil(walk(stage).filter((file) => !file.startsWith(control)).reduce((sum, file) => sum + statSync(file).size, 0) / 1024);
  const depends = [`nodejs (>= ${MINIMUM_NODE.major}.${MINIMUM_NODE.minor})`, ...sharedLibraryPackages(elf), 'systemd | systemd-standalone-sysusers'].join(', ');
  put(
    stage,
    'DEBIAN/control',
    [
      `Package: ${NAME}`,
      `Version: ${version}`,
      `Architecture: ${arch}`,
      `Maintainer: ${MAINTAINER}`,
      `Installed-Size: ${installedKb}`,
      `Depends: ${depends}`,
      'Suggests: sasl2-bin, fail2ban',
      'Section: mail',
      'Priority: optional',
      `Description: saslauthd-compatible authentication daemon for MySQL mailbox tables`,
      ' Answers the requests of Cyrus saslauthd\'s socket protocol (Postfix, Cyrus',
      ' IMAP, testsaslauthd) and of Dovecot\'s auth protocol from a MySQL or MariaDB',
      ' mailbox table, verifying every stored format such tables hold. It replaces',
      ' saslauthd -a pam with pam_mysql, reading the same PAM lines, and installs',
      ' beside sasl2-bin: the service unit decides which one serves the socket.',
      '',
    ].join('\n'),
  );
  put(stage, 'DEBIAN/conffiles', `${conffiles.join('\n')}\n`);
  for (const script of ['postinst', 'prerm', 'postrm']) put(stage, `DEBIAN/${script}`, readFileSync(path.join(ROOT, 'packaging/debian', script)), 0o755);
  const sums = walk(stage)
    .filter((file) => !file.startsWith(control))
    .map((file) => `${createHash('md5').update(readFileSync(file)).digest('hex')}  ${path.relative(stage, file)}`)
    .join('\n');
  put(stage, 'DEBIAN/md5sums', `${sums}\n`);

  const deb = path.join(outDir, `${NAME}_${version}_${arch}.deb`);
  rmSync(deb, { force: true });
  run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', stage, deb]);
  if (!existsSync(deb)) throw new Error(`dpkg-deb made no ${deb}`);
  return deb;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(buildDeb());
