/** `saslauthd-mysql dovecot-config`: Dovecot's settings for the configuration the flags give, and what could keep Dovecot out. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runDovecotConfig } from '../../src/cli/dovecot-config.js';
import type { DaemonFlags } from '../../src/config/daemon-config.js';
import { tempDir } from '../helpers/temp.js';

function dovecotConfig(flags: DaemonFlags, luaFile = '/etc/dovecot/saslauthd-mysql.lua', env: NodeJS.ProcessEnv = {}) {
  const out = new PassThrough();
  const err = new PassThrough();
  const code = runDovecotConfig(flags, luaFile, out, err, env);
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
});
