/**
 * The shipped systemd units: systemd-analyze verify must accept them with no
 * warning, and the settings they pass to the daemon must be ones it takes.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveDaemonConfig } from '../../src/config/daemon-config.js';
import { CLI, PROJECT_ROOT, run } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const UNITS = path.join(PROJECT_ROOT, 'systemd');
const SERVICE = 'saslauthd-mysql.service';
const SOCKET = 'saslauthd-mysql.socket';
const DOVECOT_SOCKET = 'saslauthd-mysql-dovecot.socket';

const unitText = (name: string) => readFileSync(path.join(UNITS, name), 'utf8');
/** Every value of a key, in file order (continuation lines are not used in these units). */
const values = (text: string, key: string) => [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);

describe('systemd units', () => {
  it('pass systemd-analyze verify without a warning', async () => {
    if (!existsSync(SYSTEMD_ANALYZE)) throw new Error(`${SYSTEMD_ANALYZE} is missing: apt-get install -y systemd`);
    const dir = tempDir();
    for (const name of [SERVICE, SOCKET, DOVECOT_SOCKET]) copyFileSync(path.join(UNITS, name), path.join(dir, name));
    // verify checks that ExecStart exists; the package is not installed at /usr/local/bin here,
    // so a drop-in (as an administrator would write one) points it at this build. The unit files
    // themselves are verified byte for byte as shipped.
    mkdirSync(path.join(dir, `${SERVICE}.d`));
    writeFileSync(path.join(dir, `${SERVICE}.d`, 'build.conf'), `[Service]\nExecStartPre=\nExecStartPre=+${CLI} prepare-socket-dirs --owner saslauthd-mysql\nExecStart=\nExecStart=${CLI}\n`);
    const result = await run(SYSTEMD_ANALYZE, ['verify', '--man=no', path.join(dir, SERVICE), path.join(dir, SOCKET), path.join(dir, DOVECOT_SOCKET)], { timeoutMs: 30_000 });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.code).toBe(0);
  }, 40_000);

  it('the sysusers file creates the account, in the sasl group, on a copy of this host\'s user database', async () => {
    const root = tempDir();
    mkdirSync(path.join(root, 'etc'));
    for (const file of ['passwd', 'group', 'shadow', 'gshadow']) if (existsSync(`/etc/${file}`)) copyFileSync(`/etc/${file}`, path.join(root, 'etc', file));
    const result = await run('/usr/bin/systemd-sysusers', [`--root=${root}`, path.join(UNITS, 'saslauthd-mysql.sysusers')], { timeoutMs: 30_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(path.join(root, 'etc', 'passwd'), 'utf8')).toMatch(/^saslauthd-mysql:x:\d+:\d+:[^:]*:\/nonexistent:\/usr\/sbin\/nologin$/m);
    expect(readFileSync(path.join(root, 'etc', 'group'), 'utf8')).toMatch(/^sasl:x:\d+:(.*,)?saslauthd-mysql(,.*)?$/m);
  });

  it('start the daemon where npm install -g puts it, with every setting from variables, after preparing its socket directories as root', () => {
    const service = unitText(SERVICE);
    // A bare command line: a flag there would silently beat the same setting in /etc/default.
    expect(values(service, 'ExecStart')).toEqual(['/usr/local/bin/saslauthd-mysql']);
    expect(values(service, 'ExecStartPre')).toEqual(['+/usr/local/bin/saslauthd-mysql prepare-socket-dirs --owner saslauthd-mysql']);
    expect(values(service, 'ReadWritePaths')).toEqual(['-/var/spool/postfix/var/run/saslauthd -/var/spool/postfix/saslauthd-mysql']);
    expect(values(unitText(SOCKET), 'ListenStream')).toEqual(['/run/saslauthd/mux']);
    expect(values(unitText(SOCKET), 'Service')).toEqual([SERVICE]);
    // The second socket, told apart by its name (protocol/socket-activation.ts).
    expect(values(unitText(DOVECOT_SOCKET), 'FileDescriptorName')).toEqual(['dovecot']);
    expect(values(unitText(DOVECOT_SOCKET), 'Service')).toEqual([SERVICE]);
  });

  it('are hardened, restart on failure, and keep the runtime directory for the socket unit', () => {
    const service = unitText(SERVICE);
    for (const [key, value] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['PrivateTmp', 'yes'],
      ['Restart', 'on-failure'],
      ['RuntimeDirectory', 'saslauthd'],
      ['RuntimeDirectoryPreserve', 'yes'],
      ['User', 'saslauthd-mysql'],
      ['SupplementaryGroups', 'sasl'],
    ] as const) {
      expect(values(service, key), key).toEqual([value]);
    }
    // V8 compiles to machine code at run time: this setting would kill the daemon at start.
    expect(values(service, 'MemoryDenyWriteExecute')).toEqual([]);
  });

  it('set only variables the daemon knows, giving saslauthd -a pam -r with a 0660 socket of group sasl', () => {
    const env: Record<string, string> = {};
    for (const line of values(unitText(SERVICE), 'Environment')) {
      for (const pair of line.split(/\s+/)) {
        const [name, ...rest] = pair.split('=');
        env[name!] = rest.join('=');
      }
    }
    const config = resolveDaemonConfig({}, env, '/');
    expect(config).toMatchObject({ mech: 'pam', socketPath: '/run/saslauthd/mux', realm: { joinRealm: true }, socket: { mode: 0o660, gid: 45 } });
  });

  it('the example /etc/default file names only known variables', () => {
    const env: Record<string, string> = { SASLAUTHD_MYSQL_MECH: 'pam' };
    for (const match of unitText('saslauthd-mysql.default').matchAll(/^#?(SASLAUTHD_MYSQL_[A-Z_]+)=(.*)$/gm)) env[match[1]!] = match[2]!;
    expect(Object.keys(env).length).toBeGreaterThan(4);
    // Uncommented all at once, they must resolve (the config file named need not exist to be parsed as a name).
    expect(() => resolveDaemonConfig({}, { ...env, SASLAUTHD_MYSQL_MECH: 'pam', SASLAUTHD_MYSQL_DB_CONFIG: '' }, '/')).not.toThrow();
  });
});
