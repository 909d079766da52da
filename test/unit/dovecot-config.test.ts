/** `saslauthd-mysql dovecot-config`: Dovecot's settings for the configuration the flags give, and what could keep Dovecot out. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { installedDovecotSyntax, runDovecotConfig, type DovecotSyntax } from '../../src/cli/dovecot-config.js';
import type { DaemonFlags } from '../../src/config/daemon-config.js';
import { tempDir } from '../helpers/temp.js';

function dovecotConfig(flags: DaemonFlags, luaFile = '/etc/dovecot/saslauthd-mysql.lua', env: NodeJS.ProcessEnv = {}, options: { dovecotVersion?: string; installed?: DovecotSyntax } = {}) {
  const out = new PassThrough();
  const err = new PassThrough();
  const { installed = '2.3', dovecotVersion } = options;
  const code = runDovecotConfig(flags, { luaFile, ...(dovecotVersion === undefined ? {} : { dovecotVersion }) }, out, err, env, () => installed);
  return { code, out: String(out.read() ?? ''), err: String(err.read() ?? '') };
}

const demo: DaemonFlags = { mech: 'passwd-file', passwdFile: 'demo/passwd' };

describe('dovecot-config', () => {
  it("prints the Lua passdb for the daemon's socket, as the daemon would resolve it", () => {
    const printed = dovecotConfig({ ...demo, runDir: '/var/spool/postfix/var/run/saslauthd' });
    expect(printed.code).toBe(0);
    expect(printed.out).toContain('passdb {\n  driver = lua\n  args = file=/etc/dovecot/saslauthd-mysql.lua blocking=yes\n}\n');
    expect(printed.out).toMatch(/^auth_mechanisms = plain login$/m);
    expect(printed.out).toMatch(/^import_environment = \$import_environment SASLAUTHD_MYSQL_SOCKET=\/var\/spool\/postfix\/var\/run\/saslauthd\/mux$/m);
    // Every line that is not a comment is a Dovecot setting or a block of them.
    const settings = printed.out.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    expect(settings.filter((line) => !/^(\w+ = .+|passdb \{|  \w+ = .+|\})$/.test(line))).toEqual([]);
  });

  it('reads the variables as the daemon does', () => {
    const printed = dovecotConfig({}, undefined, { SASLAUTHD_MYSQL_MECH: 'passwd-file', SASLAUTHD_MYSQL_PASSWD_FILE: 'demo/passwd', SASLAUTHD_MYSQL_RUN_DIR: '/run/elsewhere' });
    expect(printed.out).toContain('SASLAUTHD_MYSQL_SOCKET=/run/elsewhere/mux');
  });

  it('says on standard error what could keep Dovecot from the socket, and keeps the output a clean file', () => {
    const closed = dovecotConfig({ ...demo, socketMode: '0660' });
    expect(closed.code).toBe(0);
    expect(closed.err).toMatch(/^warn: the socket is mode 0660: Dovecot's auth workers reach it as root .*--socket-group/m);
    expect(closed.out).not.toMatch(/warn/);
    expect(dovecotConfig({ ...demo, runDir: '/run/with space' }).err).toMatch(/import_environment cannot carry it/);
  });

  it('refuses a configuration the daemon would refuse, and a relative script path', () => {
    expect(dovecotConfig({ mech: 'ldap' }).code).toBe(1);
    const relative = dovecotConfig(demo, 'saslauthd-mysql.lua');
    expect(relative.code).toBe(1);
    expect(relative.err).toMatch(/--lua-file saslauthd-mysql.lua: Dovecot needs an absolute path/);
  });

  describe('for a daemon serving the auth policy', () => {
    const secret = 'x'.repeat(40);
    const secretFile = (content = secret) => {
      const file = path.join(tempDir(), 'policy.secret');
      writeFileSync(file, content, { mode: 0o600 });
      return file;
    };

    it("prints the policy settings instead of a passdb: Dovecot keeps its own", () => {
      const file = secretFile();
      const printed = dovecotConfig({ ...demo, dovecotPolicyListen: '9873', dovecotPolicySecretFile: file, answerTimeout: '8000' });
      expect(printed.code, printed.err).toBe(0);
      expect(printed.out).toMatch(/^auth_policy_server_url = http:\/\/127\.0\.0\.1:9873\/$/m);
      expect(printed.out).toContain(`auth_policy_server_api_header = <${file}\n`);
      expect(printed.out).toMatch(/^auth_policy_hash_nonce = [0-9a-f]{32}$/m);
      expect(printed.out).toMatch(/^auth_policy_request_attributes = login=%\{requested_username\} pwhash=%\{hashed_password\} remote=%\{rip\} .*protocol=%s /m);
      expect(printed.out).toMatch(/^auth_policy_server_timeout_msecs = 10000$/m);
      expect(printed.out).toMatch(/^auth_policy_reject_on_fail = no$/m);
      expect(printed.out).not.toMatch(/^passdb /m);
      expect(printed.out).not.toContain(secret);
      // The same nonce every time, another for another secret.
      const nonce = (text: string) => /auth_policy_hash_nonce = (\w+)/.exec(text)![1];
      expect(nonce(dovecotConfig({ ...demo, dovecotPolicyListen: '9873', dovecotPolicySecretFile: file }).out)).toBe(nonce(printed.out));
      expect(nonce(dovecotConfig({ ...demo, dovecotPolicyListen: '9873', dovecotPolicySecretFile: secretFile('y'.repeat(40)) }).out)).not.toBe(nonce(printed.out));
      expect(dovecotConfig({ ...demo, dovecotPolicyListen: '[::1]:9873', dovecotPolicySecretFile: file }).out).toMatch(/^auth_policy_server_url = http:\/\/\[::1\]:9873\/$/m);
      expect(dovecotConfig({ ...demo, dovecotPolicyListen: '0', dovecotPolicySecretFile: file }).err).toMatch(/give Dovecot a fixed one/);
    });

    it('refuses a secret file Dovecot could not send, and a policy without a secret or a throttle', () => {
      const broken = dovecotConfig({ ...demo, dovecotPolicyListen: '9873', dovecotPolicySecretFile: secretFile(`${secret}\n`) });
      expect(broken.code).toBe(1);
      expect(broken.err).toMatch(/ends with a line break .*tr -d/);
      expect(dovecotConfig({ ...demo, dovecotPolicyListen: '9873', dovecotPolicySecretFile: secretFile('short') }).err).toMatch(/16 or more printable characters/);
      expect(dovecotConfig({ ...demo, dovecotPolicyListen: '9873', dovecotPolicySecretFile: secretFile('two words of some length') }).code).toBe(1);
      expect(dovecotConfig({ ...demo, dovecotPolicyListen: '9873' }).err).toMatch(/needs --dovecot-policy-secret-file/);
      expect(dovecotConfig({ ...demo, dovecotPolicySecretFile: secretFile() }).err).toMatch(/only means something with --dovecot-policy-listen/);
      expect(dovecotConfig({ ...demo, dovecotPolicyListen: '9873', dovecotPolicySecretFile: secretFile(), throttleAfter: '0' }).err).toMatch(/--throttle-after 0/);
      const errors = [broken.err, dovecotConfig({ ...demo, dovecotPolicyListen: '9873', dovecotPolicySecretFile: secretFile('two words of some length') }).err].join('');
      expect(errors).not.toContain(secret);
    });
  });

  describe("Dovecot 2.4's syntax (Debian 13)", () => {
    it("prints it for the installed Dovecot's release, or the one asked for", () => {
      const printed = dovecotConfig({ ...demo, runDir: '/run/saslauthd' }, undefined, {}, { installed: '2.4' });
      expect(printed.code).toBe(0);
      expect(printed.out).toContain('passdb lua {\n  lua_file = /etc/dovecot/saslauthd-mysql.lua\n  use_worker = yes\n}\n');
      expect(printed.out).toContain('import_environment {\n  SASLAUTHD_MYSQL_SOCKET = /run/saslauthd/mux\n}\n');
      expect(printed.out).not.toContain('driver = lua');
      expect(dovecotConfig(demo, undefined, {}, { installed: '2.4', dovecotVersion: '2.3' }).out).toContain('driver = lua');
      expect(dovecotConfig(demo, undefined, {}, { installed: '2.3', dovecotVersion: '2.4' }).out).toContain('passdb lua {');
      expect(dovecotConfig(demo, undefined, {}, { dovecotVersion: '3.0' }).err).toMatch(/--dovecot-version 3.0: expected 2.3 or 2.4/);
    });

    it('prints the policy with its request attributes as a list and its timeout in the auth_policy filter', () => {
      const file = path.join(tempDir(), 'policy.secret');
      writeFileSync(file, 'x'.repeat(40), { mode: 0o600 });
      const printed = dovecotConfig({ ...demo, dovecotPolicyListen: '9873', dovecotPolicySecretFile: file }, undefined, {}, { dovecotVersion: '2.4' });
      expect(printed.out).toContain('auth_policy_request_attributes {\n  login = %{requested_username}\n  pwhash = %{hashed_password}\n  remote = %{remote_ip}\n');
      expect(printed.out).toContain('  protocol = %{protocol}\n');
      expect(printed.out).toContain('auth_policy {\n  http_client_request_absolute_timeout = 12000ms\n}\n');
      expect(printed.out).not.toContain('auth_policy_server_timeout_msecs');
    });

    it("reads the release from dovecot --version, and says when there is none to ask", () => {
      expect(installedDovecotSyntax(() => '2.3.19.1 (9b53102964)\n')).toBe('2.3');
      expect(installedDovecotSyntax(() => '2.4.1-4 (7d8c0e5759)\n')).toBe('2.4');
      expect(installedDovecotSyntax(() => undefined)).toBeUndefined();
      const out = new PassThrough();
      const err = new PassThrough();
      expect(runDovecotConfig(demo, { luaFile: '/etc/dovecot/saslauthd-mysql.lua' }, out, err, {}, () => undefined)).toBe(0);
      expect(String(err.read())).toMatch(/no Dovecot here to ask its version .*--dovecot-version 2.4/);
      expect(String(out.read())).toContain('driver = lua');
    });
  });

  it.each([
    ['2.3', 'auth-saslauthd-mysql.conf.ext'],
    ['2.4', 'auth-saslauthd-mysql-2.4.conf.ext'],
  ])('prints for Dovecot %s the settings of the shipped example (docs/examples/dovecot/%s), for the default socket', (release, file) => {
    const settingsOf = (text: string) => text.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('#'));
    const example = readFileSync(new URL(`../../docs/examples/dovecot/${file}`, import.meta.url), 'utf8');
    const printed = dovecotConfig({ ...demo, runDir: '/run/saslauthd' }, undefined, {}, { dovecotVersion: release });
    expect(settingsOf(printed.out)).toEqual(settingsOf(example));
  });
});
