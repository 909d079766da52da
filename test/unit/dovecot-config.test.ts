/** `saslauthd-mysql dovecot-config`: Dovecot's settings for the configuration the flags give, and what could keep Dovecot out. */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runDovecotConfig } from '../../src/cli/dovecot-config.js';
import type { DaemonFlags } from '../../src/config/daemon-config.js';

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
});
