/**
 * The Debian package under a real systemd (npm run test:systemd; not in the
 * default run: it downloads a Debian system, a few minutes each), on Debian 13
 * and on Debian 12: a fresh rootfs (debootstrap) gets Postfix, sasl2-bin and
 * our .deb with apt alone, nothing from npm (Node.js 20: Debian 13's own
 * nodejs, which the package's Depends pulls in; on Debian 12, whose nodejs is
 * 18, this host's Node.js 20 package carried in), and boots with systemd as
 * PID 1 (systemd-nspawn -b, private network). Then:
 * systemctl start, status, reload (SIGHUP keeps serving, same process),
 * the hardening in effect (systemd-analyze security, the process's
 * privileges), a login through the socket with testsaslauthd, Postfix
 * authenticating a client through it (swaks: 235, and 535 for a wrong
 * password), a kill -9 under Postfix's logins (systemd starts it again, the
 * stale socket file blocks nothing, no login gets a 535), stop (socket
 * removed), and socket activation (the first connection starts the service).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDeb } from '../../packaging/build-deb.js';
import { afterThisTest } from '../helpers/cleanup.js';
import { DEMO_HASH } from '../helpers/daemon.js';
import { DEBIAN_RELEASES, DebianMachine, nspawnProblems, type DebianRelease } from '../helpers/nspawn.js';
import { tempDir } from '../helpers/temp.js';
import { docBlocks } from '../helpers/doc-recipes.js';

/**
 * This host's Node.js 20 package for the Debian 12 machine: from apt when a source still has it,
 * else rebuilt from the installed files with dpkg-repack (Debian 12's own nodejs is 18).
 */
function nodejsPackage(): string {
  const dir = tempDir();
  if (spawnSync('apt-get', ['download', '-qq', 'nodejs'], { cwd: dir, stdio: 'ignore' }).status !== 0) {
    execFileSync('dpkg-repack', ['nodejs'], { cwd: dir, stdio: 'ignore', timeout: 600_000 });
  }
  return path.join(dir, readdirSync(dir).find((name) => name.startsWith('nodejs_'))!);
}

const POSTFIX_MAIN_CF = `compatibility_level = 3.6
myhostname = mail.example.org
mydestination = localhost
inet_interfaces = loopback-only
inet_protocols = ipv4
maillog_file = /var/log/postfix.log
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = /etc/postfix/sasl
smtpd_relay_restrictions = permit_sasl_authenticated, reject
`;

/** Where each release's Node.js 20 comes from: Debian 13's own; for Debian 12 this host's package. */
const NODE_SOURCE: Record<DebianRelease, 'debian' | 'carried in'> = { trixie: 'debian', bookworm: 'carried in' };

describe.each(Object.keys(DEBIAN_RELEASES) as DebianRelease[])('the package under a real systemd on Debian %s', (release) => {
  it('installs with apt alone, runs as a hardened service, and Postfix authenticates through it', async () => {
    expect(nspawnProblems()).toEqual([]);
    const deb = buildDeb(tempDir());
    const machine = DebianMachine.create(release, ['ca-certificates']);
    afterThisTest(() => machine.destroy());
    const inside = { deb: machine.copyIn(deb), nodejs: NODE_SOURCE[release] === 'carried in' ? machine.copyIn(nodejsPackage()) : undefined };

    // Only apt, as on a fresh machine.
    const installed = machine.prepare(`
      echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
      apt-get update -qq
      ${inside.nodejs ? `apt-get install -y -qq --no-install-recommends ${inside.nodejs} >/dev/null` : ''}
      apt-get install -y -qq --no-install-recommends postfix swaks libsasl2-modules sasl2-bin >/dev/null
      apt-get install -y -qq --no-install-recommends ${inside.deb}
      echo "node $(node --version) from $(dpkg-query -W -f '\${Version}' nodejs)"
    `);
    expect(installed.status, installed.stderr).toBe(0);
    expect(installed.stdout).toContain('neither enabled nor started');
    process.stderr.write(`[Debian ${DEBIAN_RELEASES[release]}] ${/node v\S+ from \S+/.exec(installed.stdout)?.[0] ?? 'node: not found'}\n`);
    if (NODE_SOURCE[release] === 'debian') expect(installed.stdout).toMatch(/node v20\.\d+\.\d+ from \S*deb13/);

    await machine.boot();
    const sh = (script: string) => {
      const result = machine.run(script);
      return { ...result, out: result.stdout.trim() };
    };
    const login = (password: string) => sh(`testsaslauthd -u demo -p '${password}' -s smtp -f /run/saslauthd/mux`).out;

    // Nothing runs until the administrator says so.
    expect(sh('systemctl is-enabled saslauthd-mysql.service saslauthd-mysql.socket').out.split('\n')).toEqual(['disabled', 'disabled']);
    expect(sh('systemctl is-active saslauthd-mysql.service').out).toBe('inactive');

    // A passwd-file, through /etc/default, as an administrator would set it.
    expect(
      sh(`set -e
        install -d -m 0750 -g saslauthd-mysql /etc/saslauthd-mysql
        printf 'demo:%s\\n' '${DEMO_HASH}' > /etc/saslauthd-mysql/passwd
        chown root:saslauthd-mysql /etc/saslauthd-mysql/passwd && chmod 0640 /etc/saslauthd-mysql/passwd
        printf 'SASLAUTHD_MYSQL_MECH=passwd-file\\nSASLAUTHD_MYSQL_PASSWD_FILE=/etc/saslauthd-mysql/passwd\\n' >> /etc/default/saslauthd-mysql`).status,
    ).toBe(0);

    // Type=notify: a configuration the daemon refuses fails `systemctl start` itself.
    const refused = sh(`set -e
      cp /etc/default/saslauthd-mysql /root/default.saved
      echo SASLAUTHD_MYSQL_MAX_CONNECTIONS=many >> /etc/default/saslauthd-mysql
      systemctl start saslauthd-mysql.service`);
    expect(refused.status, refused.stderr).not.toBe(0);
    expect(sh('systemctl is-active saslauthd-mysql.service').out).not.toBe('active');
    expect(sh('cp /root/default.saved /etc/default/saslauthd-mysql && systemctl reset-failed saslauthd-mysql.service').status).toBe(0);

    // start, status, a login: active means the socket listens, the moment start returns.
    const started = sh('systemctl start saslauthd-mysql.service && [ -S /run/saslauthd/mux ] && systemctl is-active saslauthd-mysql.service');
    expect(started.out, `${started.stderr}\n${sh('journalctl -u saslauthd-mysql --no-pager -o cat | tail -20').out}`).toBe('active');
    const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(sh('systemctl show -p StatusText --value saslauthd-mysql.service').out).toBe(`serving, version ${version.version}`);
    expect(sh('systemctl status saslauthd-mysql.service --no-pager').out).toMatch(/Active: active \(running\)/);
    expect(sh('stat -c %U:%G:%a /run/saslauthd/mux').out).toBe('saslauthd-mysql:sasl:660');
    expect(login('demo')).toBe('0: OK "Success."');
    expect(login('wrong')).toBe('0: NO "authentication failed"');

    // The hardening, in effect on the running process.
    const pid = sh('systemctl show -p MainPID --value saslauthd-mysql.service').out;
    const status = sh(`cat /proc/${pid}/status`).out;
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect(status).toMatch(new RegExp(`^Uid:\\s+${sh('id -u saslauthd-mysql').out}\\s`, 'm'));
    const security = sh('systemd-analyze security saslauthd-mysql.service --no-pager').out;
    const exposure = /Overall exposure level for saslauthd-mysql\.service: ([\d.]+) (\w+)/.exec(security);
    expect(exposure, security).not.toBeNull();
    process.stderr.write(`[systemd-analyze security] exposure ${exposure![1]} ${exposure![2]}\n`);
    expect(Number(exposure![1])).toBeLessThan(5);

    // reload: SIGHUP, the same process keeps serving.
    expect(sh('systemctl reload saslauthd-mysql.service').status).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(sh('systemctl show -p MainPID --value saslauthd-mysql.service').out).toBe(pid);
    expect(sh('journalctl -u saslauthd-mysql --no-pager -o cat').out).toContain('SIGHUP: configuration reloaded');
    expect(login('demo')).toBe('0: OK "Success."');

    /**
     * Postfix logs in over and over (one swaks after another) while the daemon is killed with
     * SIGKILL; reports how long until the socket answers again and Postfix's answer codes.
     */
    const killUnderLoad = (label: string) => {
      const run = sh(`
        (for i in $(seq 40); do swaks --server 127.0.0.1 --auth PLAIN --auth-user demo --auth-password demo --quit-after AUTH 2>&1 | grep -oE '<[-~*]+ +(235|454|535) ' | grep -oE '[0-9]{3}'; sleep 0.1; done > /tmp/swaks-codes) &
        load=$!
        sleep 1
        old=$(systemctl show -p MainPID --value saslauthd-mysql.service)
        start=$(date +%s%N)
        kill -9 "$old"
        for i in $(seq 200); do
          new=$(systemctl show -p MainPID --value saslauthd-mysql.service)
          if [ "$new" != 0 ] && [ "$new" != "$old" ] && testsaslauthd -u demo -p demo -s smtp -f /run/saslauthd/mux >/dev/null 2>&1; then
            echo "served-again-ms=$(( ($(date +%s%N) - start) / 1000000 ))"; break
          fi
          sleep 0.05
        done
        wait "$load"
        echo "codes=$(sort /tmp/swaks-codes | uniq -c | awk '{printf "%s:%s ", $2, $1}')"
        echo "restarts=$(systemctl show -p NRestarts --value saslauthd-mysql.service)"`);
      const report = `${run.out}\n${sh('journalctl -u saslauthd-mysql --no-pager -o cat | tail -20').out}`;
      const servedAgainMs = Number(/served-again-ms=(\d+)/.exec(run.out)?.[1]);
      const codes: Record<string, number> = Object.fromEntries([...(/codes=(.*)/.exec(run.out)?.[1] ?? '').matchAll(/(\d{3}):(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
      process.stderr.write(`[kill -9, ${label}] served again after ${servedAgainMs} ms; Postfix's answers meanwhile: ${JSON.stringify(codes)}\n`);
      expect(run.out, report).toMatch(/restarts=[1-9]/);
      return { servedAgainMs, codes, report };
    };

    // Postfix, configured as for saslauthd, authenticates SMTP clients through it.
    const postfix = sh(`set -e
      cat > /etc/postfix/main.cf <<'MAIN'
${POSTFIX_MAIN_CF}MAIN
      [ -e /etc/postfix/master.cf ] || cp /usr/share/postfix/master.cf.dist /etc/postfix/master.cf
      postconf -F 'smtp/inet/chroot = n'
      install -d /etc/postfix/sasl
      printf 'pwcheck_method: saslauthd\\nmech_list: PLAIN LOGIN\\nsaslauthd_path: /run/saslauthd/mux\\n' > /etc/postfix/sasl/smtpd.conf
      usermod -a -G sasl postfix
      systemctl restart postfix
      for i in $(seq 50); do swaks --server 127.0.0.1 --quit-after EHLO >/dev/null 2>&1 && break; sleep 0.2; done`);
    expect(postfix.status, postfix.stderr).toBe(0);
    const right = sh('swaks --server 127.0.0.1 --auth PLAIN --auth-user demo --auth-password demo --quit-after AUTH');
    expect(right.out, sh('tail -20 /var/log/postfix.log').out).toContain('235 2.7.0 Authentication successful');
    const wrong = sh('swaks --server 127.0.0.1 --auth PLAIN --auth-user demo --auth-password wrong --quit-after AUTH');
    expect(wrong.out).toContain('535 5.7.8 Error: authentication failed');
    expect(sh('journalctl -u saslauthd-mysql --no-pager -o cat').out).toMatch(/auth failure: \[user=demo\] \[service=smtp\]/);

    // kill -9 under load: systemd starts it again (Restart=on-failure, RestartSec=1s) and its stale socket
    // file does not block the start. Without the socket unit, logins in the gap fail temporarily (454), never 535.
    const direct = killUnderLoad('service started directly');
    expect(direct.servedAgainMs, direct.report).toBeLessThan(4000);
    expect(direct.codes['535'] ?? 0, direct.report).toBe(0);
    expect(direct.codes['235'] ?? 0, direct.report).toBeGreaterThan(20);
    const afterCrash = sh('journalctl -u saslauthd-mysql --no-pager -o cat').out;
    expect(afterCrash).toContain('removed a stale socket left by an earlier run');
    expect(afterCrash).not.toMatch(/cannot start/);
    expect(login('demo')).toBe('0: OK "Success."');

    // stop: the daemon removes its socket.
    expect(sh('systemctl stop saslauthd-mysql.service; systemctl is-active saslauthd-mysql.service').out).toBe('inactive');
    expect(sh('test -e /run/saslauthd/mux && echo present || echo gone').out).toBe('gone');

    // Socket activation: systemd holds the socket, and the first login starts the service.
    expect(sh('systemctl start saslauthd-mysql.socket && systemctl is-active saslauthd-mysql.service').out).toBe('inactive');
    expect(login('demo')).toBe('0: OK "Success."');
    expect(sh('systemctl is-active saslauthd-mysql.service').out).toBe('active');
    // With the socket unit, systemd holds the listening socket through a crash: only the login in flight may fail (454).
    const held = killUnderLoad('socket unit');
    expect(held.servedAgainMs, held.report).toBeLessThan(4000);
    expect(held.codes['535'] ?? 0, held.report).toBe(0);
    expect(held.codes['454'] ?? 0, held.report).toBeLessThanOrEqual(1);
    expect(held.codes['235'] ?? 0, held.report).toBeGreaterThan(30);
    // Postfix through the socket systemd holds, and a restart of the service loses no login.
    expect(sh('systemctl restart saslauthd-mysql.service & swaks --server 127.0.0.1 --auth PLAIN --auth-user demo --auth-password demo --quit-after AUTH; wait').out).toContain('235 2.7.0 Authentication successful');
    expect(sh('systemctl stop saslauthd-mysql.socket saslauthd-mysql.service; systemctl is-active saslauthd-mysql.socket saslauthd-mysql.service').out.split('\n')).toEqual(['inactive', 'inactive']);
    expect(sh('test -e /run/saslauthd/mux && echo present || echo gone').out).toBe('gone');

    // migration.md's switch from Debian's saslauthd and its rollback, with the page's commands, judged by logins.
    // Debian's saslauthd -a pam falls through to pam_unix here: a system account with a password.
    expect(sh("useradd -M -s /usr/sbin/nologin rollback && echo 'rollback:rollback-pw' | chpasswd").status).toBe(0);
    const saslauthdAnswers = () => sh("testsaslauthd -u rollback -p 'rollback-pw' -s smtp -f /run/saslauthd/mux").out;
    const untilAnswered = async (ask: () => string): Promise<string> => {
      let answer = '';
      for (let i = 0; i < 50 && !answer.includes('OK'); i += 1) {
        answer = ask();
        if (!answer.includes('OK')) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      return answer;
    };
    const page = readFileSync(new URL('../../docs/migration.md', import.meta.url), 'utf8');
    if (release === 'bookworm') {
      // Debian 12's init script starts nothing without it (the page says to add it).
      const startLine = /`(grep -q '\^START=yes' \/etc\/default\/saslauthd \|\| echo START=yes >> \/etc\/default\/saslauthd)`/.exec(page)?.[1];
      expect(startLine).toBeTruthy();
      expect(sh(startLine!).status).toBe(0);
    }
    // The old daemon serving, as on the host before the switch.
    expect(sh('systemctl enable saslauthd && systemctl restart saslauthd').status).toBe(0);
    expect(await untilAnswered(saslauthdAnswers), sh('systemctl status saslauthd --no-pager').out).toBe('0: OK "Success."');
    // The switch: the page's systemctl lines.
    const [switchBlock] = docBlocks('migration.md', '## 4. Switch', 'sh');
    const switchCommands = switchBlock!.split('\n').filter((line) => line.startsWith('systemctl ')).map((line) => line.replace(/\s+#.*$/, '')).join(' && ');
    const switched = sh(switchCommands);
    expect(switched.status, `${switchCommands}\n${switched.stderr}`).toBe(0);
    expect(sh('pgrep -x saslauthd >/dev/null && echo running || echo gone').out).toBe('gone');
    expect(login('demo')).toBe('0: OK "Success."');
    // The rollback, as written; Debian 12's init script also reads /etc/default/saslauthd-mysql (every
    // /etc/default/saslauthd* file is an instance to it), which must not keep saslauthd from starting.
    const [rollback] = docBlocks('migration.md', '## Rolling back', 'sh');
    const rolledBack = sh(rollback!.trim().split('\n').join(' && '));
    expect(rolledBack.status, rolledBack.stderr).toBe(0);
    expect(await untilAnswered(saslauthdAnswers), sh('systemctl status saslauthd --no-pager').out).toBe('0: OK "Success."');
    expect(sh('systemctl is-enabled saslauthd-mysql.service saslauthd-mysql.socket').out.split('\n')).toEqual(['disabled', 'disabled']);
    expect(sh('systemctl is-active saslauthd-mysql.service').out).toBe('inactive');
  }, 1_200_000);
});
