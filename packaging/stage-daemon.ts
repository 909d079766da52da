/**
 * What both packages (npm run package:deb, npm run package:rpm) start from:
 * the daemon as `npm pack` ships it, with package-lock.json, and its
 * production dependencies installed without their scripts and pruned of what
 * the daemon never reads. Each package then adds its own native build, units
 * and scripts.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const NAME = 'saslauthd-mysql';

export function run(command: string, args: readonly string[], cwd = ROOT): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

export function put(stage: string, target: string, content: string | Buffer, mode = 0o644): void {
  const file = path.join(stage, target);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  chmodSync(file, mode);
}

export function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? walk(full) : entry.isFile() ? [full] : [];
  });
}


/** What the dependencies carry that the daemon never reads: their tests, benchmarks, tooling dot-files and web pages. */
const PRUNED_DIRECTORIES = new Set(['test', 'tests', '__tests__', 'fixture', 'fixtures', 'benchmark', 'benchmarks', 'bench', 'example', 'examples', 'docs']);
/** Tooling dot-files (.npmignore, .eslintrc, ...), web pages, source maps, and C sources of addons that ship built. */
const PRUNED_FILE = /^(\..*|.*\.html|.*\.map|.*\.[ch])$/;

/** Tests, examples and tooling directories at any depth of one package (its own node_modules are pruned as packages). */
function pruneDirectories(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === 'node_modules') continue;
    const full = path.join(dir, entry.name);
    if (PRUNED_DIRECTORIES.has(entry.name) || entry.name.startsWith('.')) rmSync(full, { recursive: true, force: true });
    else pruneDirectories(full);
  }
}

function pruneDependencies(modules: string): void {
  const packages = readdirSync(modules, { withFileTypes: true }).flatMap((entry) => {
    if (!entry.isDirectory() || entry.name === '.bin') return [];
    const dir = path.join(modules, entry.name);
    return entry.name.startsWith('@') ? readdirSync(dir).map((name) => path.join(dir, name)) : [dir];
  });
  for (const dir of packages) {
    pruneDirectories(dir);
    for (const file of walk(dir)) if (PRUNED_FILE.test(path.basename(file))) rmSync(file, { force: true });
    if (existsSync(path.join(dir, 'node_modules'))) pruneDependencies(path.join(dir, 'node_modules'));
  }
  rmSync(path.join(modules, '.bin'), { recursive: true, force: true });
  rmSync(path.join(modules, '.package-lock.json'), { force: true });
}

/**
 * `npm pack`'s tree unpacked under `work` (its directory is returned), with the lock file
 * the dependencies are installed from; `version` stands in for package.json's (the upgrade
 * tests build one package over another, and the daemon reads its version from there).
 */
export function packDaemon(work: string, version?: string): string {
  mkdirSync(work, { recursive: true });
  const tarball = run('npm', ['pack', '--silent', '--pack-destination', work]).trim().split('\n').pop()!;
  run('tar', ['-xzf', path.join(work, tarball), '-C', work]);
  rmSync(path.join(work, tarball), { force: true });
  const dir = path.join(work, 'package');
  copyFileSync(path.join(ROOT, 'package-lock.json'), path.join(dir, 'package-lock.json'));
  if (version) {
    const shipped = path.join(dir, 'package.json');
    writeFileSync(shipped, `${JSON.stringify({ ...(JSON.parse(readFileSync(shipped, 'utf8')) as object), version }, null, 2)}\n`);
  }
  return dir;
}

/**
 * The production dependencies in dir/node_modules, from the lock file. No scripts: npm ci
 * would run the package's own "prepare" (a build from sources it does not ship); the one
 * install step production needs, the addon's compile, each package runs itself.
 */
export function installProductionModules(dir: string): void {
  run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], dir);
  const modules = path.join(dir, 'node_modules');
  pruneDependencies(modules);
  for (const file of walk(modules)) {
    const text = readFileSync(file);
    if (text.length === 0) {
      rmSync(file);
      continue;
    }
    // Scripts (a #! line) executable, everything else (shared objects included) not; a
    // dependency's command runs the distribution's node, as Fedora's brp-mangle-shebangs makes it.
    const script = text.subarray(0, 2).toString() === '#!';
    if (script && text.subarray(0, 20).toString().startsWith('#!/usr/bin/env node')) writeFileSync(file, Buffer.concat([Buffer.from('#!/usr/bin/node'), text.subarray('#!/usr/bin/env node'.length)]));
    chmodSync(file, script ? 0o755 : 0o644);
  }
}

export interface BundledPackage {
  readonly name: string;
  readonly version: string;
  readonly license: string;
}

/** Every package under node_modules (nested ones too), with the licence its package.json declares. */
export function bundledPackages(modules: string): BundledPackage[] {
  const found = new Map<string, BundledPackage>();
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      const packages = entry.name.startsWith('@') ? readdirSync(full).map((name) => path.join(full, name)) : [full];
      for (const pkgDir of packages) {
        const manifest = path.join(pkgDir, 'package.json');
        if (!existsSync(manifest)) continue;
        const meta = JSON.parse(readFileSync(manifest, 'utf8')) as { name: string; version: string; license?: string | { type?: string } };
        const license = typeof meta.license === 'string' ? meta.license : (meta.license?.type ?? 'UNKNOWN');
        found.set(`${meta.name}@${meta.version}`, { name: meta.name, version: meta.version, license });
        if (existsSync(path.join(pkgDir, 'node_modules'))) visit(path.join(pkgDir, 'node_modules'));
      }
    }
  };
  visit(modules);
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name) || a.version.localeCompare(b.version));
}
