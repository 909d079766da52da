/**
 * The install an administrator does without a registry: `npm pack`, then
 * `npm install -g` of the tarball into a prefix. The daemon must run from
 * there with the native addon compiled at install time, and an old Node.js
 * must be told what to install. The dependencies come from npm's cache where
 * `npm ci` filled it (--prefer-offline); what `npm ci` does not cache (the
 * registry's package documents an install -g resolves with) from the registry.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { CLI, PROJECT_ROOT, run, spawnDaemon } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

describe('npm pack, then npm install -g of the tarball', () => {
  it('installs a daemon that runs, with the native addon built at install time', async () => {
    const work = tempDir();
    // The build is the test run's own (npm test builds first), so the pack need not build again.
    const packed = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { timeoutMs: 60_000 });
    expect(packed.code, packed.stderr).toBe(0);
    const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'))!;
    const prefix = path.join(work, 'prefix');
    const installed = await run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', path.join(work, tarball)], { timeoutMs: 180_000, cwd: work });
    expect(installed.code, installed.stderr).toBe(0);
    const root = path.join(prefix, 'lib', 'node_modules', 'saslauthd-mysql');
    expect(existsSync(path.join(root, 'native', 'build', 'Release', 'saslauthd_mysql_crypt.node'))).toBe(true);
    // Nothing of the checkout's build output or tests came along.
    expect(existsSync(path.join(root, 'test'))).toBe(false);

    const bin = path.join(prefix, 'bin', 'saslauthd-mysql');
    const version = await run(bin, ['--version']);
    expect(version.stdout).toMatch(/^saslauthd-mysql \d+\.\d+\.\d+\n/);

    const runDir = path.join(work, 'run');
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', path.join(root, 'demo', 'passwd'), '-r', '-m', runDir], { program: bin });
    expect((await exchange(path.join(runDir, 'mux'), requestFrame({ login: 'demo', password: 'demo', service: 'smtp', realm: 'example.org' }))).reply).toBe('OK');
    await daemon.stop();
    expect(daemon.records().find((record) => record.msg === 'listening')).toMatchObject({ crypt: 'native' });

    // The units, with ExecStart where this install put the command, pass systemd-analyze verify as installed: no drop-in.
    const system = path.join(work, 'root');
    const units = await run(path.join(root, 'systemd', 'install-units'), ['--root', system], { env: { ...process.env, PATH: `${path.join(prefix, 'bin')}:${process.env.PATH}` } });
    expect(units.code, units.stderr).toBe(0);
    const service = path.join(system, 'etc', 'systemd', 'system', 'saslauthd-mysql.service');
    const escaped = bin.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    expect(readFileSync(service, 'utf8')).toMatch(new RegExp(`^ExecStart=${escaped}$`, 'm'));
    expect(readFileSync(service, 'utf8')).toMatch(new RegExp(`^ExecStartPre=\\+${escaped} prepare-socket-dirs --owner saslauthd-mysql$`, 'm'));
    const verified = await run('/usr/bin/systemd-analyze', ['verify', '--man=no', service, ...['saslauthd-mysql.socket', 'saslauthd-mysql-dovecot.socket'].map((unit) => path.join(system, 'etc', 'systemd', 'system', unit))], { timeoutMs: 30_000 });
    expect(verified.stdout + verified.stderr).toBe('');
    expect(verified.code).toBe(0);
    expect(existsSync(path.join(system, 'usr', 'lib', 'sysusers.d', 'saslauthd-mysql.conf'))).toBe(true);
    expect(existsSync(path.join(system, 'etc', 'default', 'saslauthd-mysql'))).toBe(true);
  }, 300_000);

  it('tells a user of an old Node.js what to install, before loading anything else', async () => {
    const old = await run(process.execPath, ['--import', 'data:text/javascript,Object.defineProperty(process.versions,"node",{value:"18.19.0"})', CLI, '--version'], { cwd: PROJECT_ROOT });
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/^saslauthd-mysql needs Node\.js 20\.12 or newer, and this is 18\.19\.0\. Debian 12 ships Node\.js 18: install Node\.js 20 or 22/);
    expect(old.stdout).toBe('');
  });
});
