/** RHEL's /etc/sysconfig/saslauthd taken over: read as saslauthd's unit reads it, under this daemon's own settings. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveDaemonConfig, type DaemonFlags } from '../../src/config/daemon-config.js';
import { runConfigPrint } from '../../src/cli/config-print.js';
import { ConfigError } from '../../src/errors.js';
import { rhelSaslauthdSysconfig } from '../helpers/saslauthd.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sysconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RHEL_FILE = rhelSaslauthdSysconfig('/run/saslauthd');

let files = 0;
function sysconfig(text: string): string {
  const file = path.join(dir, `saslauthd-${++files}`);
  writeFileSync(file, text);
  return file;
}

function resolve(text: string, flags: DaemonFlags = {}, env: Record<string, string> = {}) {
  return resolveDaemonConfig(flags, { SASLAUTHD_MYSQL_SASLAUTHD_SYSCONFIG: sysconfig(text), ...env }, '/srv');
}

function configError(text: string, flags: DaemonFlags = {}, env: Record<string, string> = {}): ConfigError {
  try {
    resolve(text, flags, env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a configuration error');
}

describe('--saslauthd-sysconfig', () => {
  it("takes MECH, SOCKETDIR and FLAGS from RHEL's file as saslauthd's unit does", () => {
    const config = resolve(RHEL_FILE);
    expect(config).toMatchObject({ mech: 'pam', runDir: '/run/saslauthd', socketPath: '/run/saslauthd/mux', realm: { joinRealm: true } });
    expect(config.backend).toMatchObject({ kind: 'pam', pamDir: '/etc/pam.d' });
  });

  it('reads FLAGS as getopt does: grouped switches, a value in the same word or the next', () => {
    const config = resolve('MECH=pam\nSOCKETDIR=/run/saslauthd\nFLAGS="-cr -t3600 -n 5 -s 960"\n');
    expect(config.realm.joinRealm).toBe(true);
    expect(config.caches.credential).toEqual({ ttlMs: 3_600_000, entries: 10_240 });
    expect(config.compatibility.workers).toBe(5);
  });

  it('lets a -m or -a in FLAGS beat SOCKETDIR and MECH, as the later word does for saslauthd', () => {
    const config = resolve('MECH=pam\nSOCKETDIR=/run/saslauthd\nFLAGS="-m /var/spool/postfix/var/run/saslauthd -a passwd-file -O /srv/users"\n');
    expect(config.runDir).toBe('/var/spool/postfix/var/run/saslauthd');
    expect(config.backend).toEqual({ kind: 'passwd-file', file: '/srv/users' });
  });

  it("puts this daemon's own variables and flags above the file", () => {
    const fromVariable = resolve(RHEL_FILE, {}, { SASLAUTHD_MYSQL_MECH: 'passwd-file', SASLAUTHD_MYSQL_PASSWD_FILE: 'users', SASLAUTHD_MYSQL_RUN_DIR: '/run/other', SASLAUTHD_MYSQL_REALM_JOIN: 'no' });
    expect(fromVariable).toMatchObject({ mech: 'passwd-file', runDir: '/run/other', realm: { joinRealm: false }, backend: { file: '/srv/users' } });
    const fromFlag = resolve(RHEL_FILE, { runDir: '/run/flag' }, { SASLAUTHD_MYSQL_RUN_DIR: '/run/other' });
    expect(fromFlag.runDir).toBe('/run/flag');
  });

  it('gives an empty SOCKETDIR or FLAGS no words, as systemd does', () => {
    const config = resolve('SOCKETDIR=\nMECH=pam\nFLAGS=\n');
    expect(config).toMatchObject({ runDir: '/run/saslauthd', realm: { joinRealm: false } });
  });

  it('records what it read, so a reload that finds another SOCKETDIR says a restart is needed', () => {
    expect(resolve(RHEL_FILE).settings).toMatchObject({ mech: 'pam', runDir: '/run/saslauthd', realmJoin: true });
  });

  it("refuses a mechanism of saslauthd's this daemon does not serve, naming the file's line", () => {
    const error = configError('MECH=shadow\nFLAGS=\n');
    expect(error.key).toMatch(/^MECH in .*saslauthd-\d+$/);
    expect(error.message).toMatch(/saslauthd's shadow mechanism is not one saslauthd-mysql serves \(passwd-file, pam, mysql\)/);
    expect(configError('MECH=pam\nFLAGS="-a ldap"\n').key).toMatch(/^-a in FLAGS of /);
  });

  it('refuses a flag it does not know, or a bad value, naming where it was', () => {
    expect(configError('MECH=pam\nFLAGS="-r -x"\n').message).toMatch(/^FLAGS in .*: Unknown option '-x'/);
    expect(configError('MECH=pam\nFLAGS="-r stray"\n').message).toMatch(/^FLAGS in .*: Unexpected argument 'stray'/);
    const bad = configError('MECH=pam\nFLAGS="-t abc"\n');
    expect(bad.key).toMatch(/^-t in FLAGS of /);
    expect(bad.message).toMatch(/expected a whole number/);
  });

  it('says where the mechanism was missing from', () => {
    expect(configError('SOCKETDIR=/run/saslauthd\n').message).toMatch(/no mechanism given; .*\(.*saslauthd-\d+ sets no MECH\)/);
  });

  it('refuses a file it cannot read, naming the variable that names it', () => {
    let caught: unknown;
    try {
      resolveDaemonConfig({}, { SASLAUTHD_MYSQL_SASLAUTHD_SYSCONFIG: path.join(dir, 'missing') }, '/srv');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).message).toMatch(/^SASLAUTHD_MYSQL_SASLAUTHD_SYSCONFIG: cannot read .*missing: ENOENT/);
  });

  it('is shown by config with the line each setting came from', () => {
    const out = new PassThrough();
    const err = new PassThrough();
    const file = sysconfig(RHEL_FILE);
    expect(runConfigPrint({}, out, err, { SASLAUTHD_MYSQL_SASLAUTHD_SYSCONFIG: file })).toBe(0);
    const text = String(out.read());
    expect(text).toMatch(new RegExp(`--mech = pam +# MECH in ${file}\\n`));
    expect(text).toMatch(new RegExp(`--run-dir = /run/saslauthd +# SOCKETDIR in ${file}\\n`));
    expect(text).toMatch(new RegExp(`--realm-join = yes +# -r in FLAGS of ${file}\\n`));
    expect(text).toMatch(/--saslauthd-sysconfig = .* +# SASLAUTHD_MYSQL_SASLAUTHD_SYSCONFIG\n/);
  });
});
