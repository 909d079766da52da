/**
 * The first day on a Debian 13 mail host, as docs/migration.md tells it
 * (npm run test:systemd): a fresh Debian 13 under systemd with Debian's own
 * sasl2-bin, pam_mysql, MariaDB and Postfix (smtpd chrooted, as Debian ships
 * it), the old chain working (saslauthd -a pam -r in Postfix's chroot,
 * pam_mysql against a mailbox table), then every step of the guide with its
 * commands as written:
 *
 * install the package; settings in /etc/default; check while saslauthd still
 * answers; the switch (Postfix: 235, 535, and 454 with the database down);
 * operations.md's metrics and journal recipes on the real journal; a reload that applies an edit of /etc/default; the rollback to saslauthd
 * (235 again); the switch again; Postfix with Dovecot SASL on a socket in its
 * chroot; an upgrade to a newer package (restarted,
 * new PID, new version in the log, the metric and systemd's status); remove
 * (Postfix gets 454, not 535); reinstall (the postinst says how the service
 * stands); purge (the account stays, the directories go back to root).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildDeb } from '../../packaging/build-deb.js';
import { afterThisTest } from '../helpers/cleanup.js';
import { DebianMachine, nspawnProblems } from '../helpers/nspawn.js';
import { tempDir } from '../helpers/temp.js';
import { docBlocks, journalJqRecipes } from '../helpers/doc-recipes.js';

const CHROOT_RUN_DIR = '/var/spool/postfix/var/run/saslauthd';
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
/** The next patch release, for the upgrade. */
const NEXT_VERSION = VERSION.replace(/(\d+)$/, (patch) => String(Number(patch) + 1));

/** The old chain as a Debian 13 host runs it: Debian's README.Debian recipe for a chrooted smtpd. */
const OLD_CHAIN = String.raw`set -e
mariadb <<'SQL'
CREATE DATABASE postfix;
CREATE TABLE postfix.mailbox (username VARCHAR(255) PRIMARY KEY, password VARCHAR(255), active TINYINT(1) NOT NULL DEFAULT 1);
CREATE USER 'mailauth'@'localhost' IDENTIFIED BY 'db-secret';
GRANT SELECT ON postfix.mailbox TO 'mailauth'@'localhost';
SQL
mariadb -e "INSERT INTO postfix.mailbox VALUES ('alice@example.org', '$(openssl passwd -1 -salt abcdefgh alice-pw)', 1)"
cat > /etc/pam.d/smtp <<'PAM'
auth    required   pam_mysql.so host=localhost user=mailauth passwd=db-secret db=postfix table=mailbox usercolumn=username passwdcolumn=password where=active=1 crypt=1
account sufficient pam_mysql.so host=localhost user=mailauth passwd=db-secret db=postfix table=mailbox usercolumn=username passwdcolumn=password where=active=1 crypt=1
PAM
sed -i 's#^OPTIONS=.*#OPTIONS="-c -m ${CHROOT_RUN_DIR} -r"#' /etc/default/saslauthd
dpkg-statoverride --add root sasl 710 ${CHROOT_RUN_DIR}
install -d -o root -g sasl -m 0710 ${CHROOT_RUN_DIR}
adduser postfix sasl >/dev/null
# Debian 13's saslauthd.service looks for its pid file in /run/saslauthd whatever -m says.
mkdir -p /etc/systemd/system/saslauthd.service.d
printf '[Service]\nPIDFile=${CHROOT_RUN_DIR}/saslauthd.pid\n' > /etc/systemd/system/saslauthd.service.d/chroot.conf
systemctl daemon-reload
# Postfix as installed with "No configuration": Debian's master.cf (smtpd chrooted), an empty main.cf.
[ -e /etc/postfix/master.cf ] || cp /usr/share/postfix/master.cf.dist /etc/postfix/master.cf
touch /etc/postfix/main.cf
postconf compatibility_level=3.6 myhostname=mail.example.org mydestination=localhost inet_interfaces=loopback-only inet_protocols=ipv4 \
  maillog_file=/var/log/postfix.log smtpd_sasl_auth_enable=yes cyrus_sasl_config_path=/etc/postfix/sasl \
  'smtpd_relay_restrictions=permit_sasl_authenticated, reject'
printf 'pwcheck_method: saslauthd\nmech_list: PLAIN LOGIN\nsaslauthd_path: /var/run/saslauthd/mux\n' > /etc/postfix/sasl/smtpd.conf
systemctl enable --now saslauthd
systemctl restart postfix
for i in $(seq 50); do swaks --server 127.0.0.1 --quit-after EHLO >/dev/null 2>&1 && break; sleep 0.2; done
`;

describe('the switch from saslauthd + pam_mysql on Debian 13, as docs/migration.md says', () => {
  it('old chain, switch, reload, rollback, switch again, upgrade, remove, reinstall, purge', async () => {
    expect(nspawnProblems()).toEqual([]);
    const debs = tempDir();
    const first = buildDeb(`${debs}/first`);
    const next = buildDeb(`${debs}/next`, { version: NEXT_VERSION });
    const machine = DebianMachine.create('trixie', ['ca-certificates']);
    afterThisTest(() => machine.destroy());
    const inside = { first: machine.copyIn(first, '/root/first.deb'), next: machine.copyIn(next, '/root/next.deb') };
    const installed = machine.prepare(`
      echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends postfix swaks libsasl2-modules sasl2-bin libpam-mysql mariadb-server openssl curl jq prometheus >/dev/null
      # The package's own dependency (Debian's Node.js 20), fetched now: once booted the machine has no network.
      apt-get install -y -qq --no-install-recommends nodejs >/dev/null`);
    expect(installed.status, installed.stderr).toBe(0);
    await machine.boot();

    const sh = (script: string) => {
      const result = machine.run(script);
      return { ...result, out: result.stdout.trim() };
    };
    const journal = () => sh('journalctl -u saslauthd-mysql --no-pager -o cat').out;
    /** Postfix's answer to an SMTP AUTH PLAIN: 235, 535 or 454. */
    const smtpAuth = (password: string) => {
      const run = sh(`swaks --server 127.0.0.1 --auth PLAIN --auth-user alice@example.org --auth-password '${password}' --quit-after AUTH 2>&1`);
      return /^<[-~*]+ +(235|454|535) /m.exec(run.out)?.[1] ?? `no AUTH answer:\n${run.out}\n${sh('tail -5 /var/log/postfix.log').out}`;
    };
    const expectServed = (stage: string) => {
      expect(smtpAuth('alice-pw'), stage).toBe('235');
      expect(smtpAuth('wrong'), stage).toBe('535');
    };

    // The old chain works.
    const old = sh(OLD_CHAIN);
    expect(old.status, `${old.stdout}\n${old.stderr}`).toBe(0);
    expectServed('the old chain');

    // 2. Install: apt, the account, the note.
    const install = sh(`apt-get install -y -qq --no-install-recommends ${inside.first} 2>&1`);
    expect(install.status, install.out).toBe(0);
    expect(install.out).toContain('neither enabled nor started');
    expect(sh('stat -c %U:%G:%a /etc/default/saslauthd-mysql').out).toBe('root:saslauthd-mysql:640');

    // 3. The settings in /etc/default, the PAM file for the daemon's group, then check while saslauthd still answers.
    expect(sh(`echo SASLAUTHD_MYSQL_RUN_DIR=${CHROOT_RUN_DIR} >> /etc/default/saslauthd-mysql`).status).toBe(0);
    const loose = sh('saslauthd-mysql check --user alice --realm example.org 2>&1');
    expect(loose.status).toBe(1);
    expect(loose.out).toMatch(/warn: \/etc\/pam\.d\/smtp holds the database password .* readable by every user/);
    // Locked to root, as pam_mysql hosts often keep it: root reads it, the service's user would not; check says so.
    expect(sh('chmod 0600 /etc/pam.d/smtp').status).toBe(0);
    const locked = sh('saslauthd-mysql check --user alice --realm example.org 2>&1');
    expect(locked.status).toBe(1);
    expect(locked.out).toMatch(/ok: the settings' files and the lookup checked as saslauthd-mysql \(uid \d+, gid \d+\), the service's user/);
    expect(locked.out).toMatch(/problem: .*\/etc\/pam\.d\/smtp.*(denied|EACCES)/);
    expect(locked.out).not.toMatch(/ok: user alice/);
    expect(sh('chgrp saslauthd-mysql /etc/pam.d/smtp && chmod 0640 /etc/pam.d/smtp').status).toBe(0);
    const check = sh('saslauthd-mysql check --user alice --realm example.org 2>&1');
    expect(check.status, check.out).toBe(0);
    expect(check.out).toContain("ok: checking as the service runs: saslauthd-mysql.service's settings and /etc/default/saslauthd-mysql, for its user saslauthd-mysql");
    expect(check.out).toMatch(/ok: the settings' files and the lookup checked as saslauthd-mysql \(uid \d+, gid \d+\), the service's user/);
    expect(check.out).toContain(`ok: socket ${CHROOT_RUN_DIR}/mux: a daemon answers there already`);
    expect(check.out).toContain(`${CHROOT_RUN_DIR} belongs to root (saslauthd's); the unit's ExecStartPre gives it to saslauthd-mysql at start`);
    expect(check.out).toContain('ok: Postfix reaches the socket: user postfix is in its group sasl');
    expect(check.out).toMatch(/ok: user alice@example\.org \(service smtp\): found in .*MD5-CRYPT/);

    // 4. The switch, in one go.
    const switched = sh('systemctl disable saslauthd && systemctl stop saslauthd && systemctl enable --now saslauthd-mysql.service');
    expect(switched.status, `${switched.stderr}\n${journal()}`).toBe(0);
    expect(sh(`stat -c %U:%G:%a ${CHROOT_RUN_DIR} ${CHROOT_RUN_DIR}/mux`).out.split('\n')).toEqual(['saslauthd-mysql:sasl:710', 'saslauthd-mysql:sasl:660']);
    expect(journal()).toContain(`prepare-socket-dirs: ${CHROOT_RUN_DIR} (saslauthd's) now belongs to saslauthd-mysql, group and mode kept`);
    expectServed('after the switch');
    expect(sh('systemctl stop mariadb').status).toBe(0);
    expect(smtpAuth('alice-pw'), 'database down').toBe('454');
    expect(sh('systemctl start mariadb').status).toBe(0);
    expect(smtpAuth('alice-pw'), 'database back').toBe('235');

    // operations.md: metrics on a local port (a restart-only setting: the reload says so), and its journal recipes on this journal.
    expect(sh('echo SASLAUTHD_MYSQL_METRICS_PORT=9143 >> /etc/default/saslauthd-mysql && systemctl reload saslauthd-mysql').status).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(journal()).toContain('SIGHUP: changed settings that only a restart applies: --metrics-port');
    expect(sh('systemctl restart saslauthd-mysql').status).toBe(0);
    const metrics = sh('curl -sf http://127.0.0.1:9143/metrics');
    expect(metrics.out).toMatch(new RegExp(`^saslauthd_mysql_build_info\\{version="${VERSION.replace(/\./g, '\\.')}",node="[^"]+"\\} 1$`, 'm'));
    expect(smtpAuth('wrong')).toBe('535');
    const [whoFails, throttled] = journalJqRecipes().map((recipe) => sh(`set -o pipefail; ${recipe}`));
    expect(whoFails!.status, whoFails!.stderr).toBe(0);
    expect(whoFails!.out).toMatch(/^\s*\d+ alice@example\.org\t-\tERR_WRONG_PASSWORD$/m);
    expect(throttled!.status, throttled!.stderr).toBe(0);
    // The alert rules' unit tests, from the installed docs, with Debian 13's promtool.
    const [rulesTest] = docBlocks('operations.md', '## Alert rules (`examples/prometheus/`)', 'sh');
    const promtool = sh(rulesTest!);
    expect(promtool.status, `${promtool.out}\n${promtool.stderr}`).toBe(0);
    expect(promtool.out).toContain('SUCCESS');

    // A reload applies an edit of /etc/default (systemd read it only at start).
    expect(sh('echo SASLAUTHD_MYSQL_LOG_SUCCESSES=yes >> /etc/default/saslauthd-mysql && systemctl reload saslauthd-mysql').status).toBe(0);
    expect(smtpAuth('alice-pw')).toBe('235');
    expect(journal()).toMatch(/auth success: \[user=alice@example\.org\] \[service=smtp\]/);

    // Rolling back, as written.
    const rollback = sh('systemctl disable --now saslauthd-mysql.service saslauthd-mysql.socket && systemctl enable saslauthd && systemctl restart saslauthd');
    expect(rollback.status, rollback.stderr).toBe(0);
    expect(sh('systemctl is-active saslauthd saslauthd-mysql').out.split('\n')).toEqual(['active', 'inactive']);
    expectServed('after the rollback');

    // And the switch again.
    expect(sh('systemctl disable saslauthd && systemctl stop saslauthd && systemctl enable --now saslauthd-mysql.service').status).toBe(0);
    expectServed('switched again');

    // Postfix with Dovecot SASL, in the layout the guide gives for a chrooted smtpd, under the unit as shipped.
    const dovecot = sh(`set -e
      echo SASLAUTHD_MYSQL_DOVECOT_SOCKET=/var/spool/postfix/saslauthd-mysql/auth >> /etc/default/saslauthd-mysql
      systemctl restart saslauthd-mysql
      postconf smtpd_sasl_type=dovecot smtpd_sasl_path=saslauthd-mysql/auth
      postfix reload >/dev/null 2>&1; sleep 1`);
    expect(dovecot.status, `${dovecot.stderr}\n${journal()}`).toBe(0);
    expect(sh('stat -c %U:%G:%a /var/spool/postfix/saslauthd-mysql /var/spool/postfix/saslauthd-mysql/auth').out.split('\n')).toEqual(['saslauthd-mysql:sasl:710', 'saslauthd-mysql:sasl:660']);
    expectServed('Postfix with Dovecot SASL');
    expect(journal()).toMatch(/"remote":"127\.0\.0\.1".*"listener":"dovecot"/);
    // And back to the saslauthd socket: the two lines out.
    expect(sh('postconf -X smtpd_sasl_type smtpd_sasl_path && postfix reload >/dev/null 2>&1; sleep 1').status).toBe(0);
    expectServed('back on the saslauthd socket');

    // An upgrade restarts the running daemon on the new version.
    const pidBefore = sh('systemctl show -p MainPID --value saslauthd-mysql').out;
    const upgrade = sh(`apt-get install -y -qq --no-install-recommends ${inside.next} 2>&1`);
    expect(upgrade.status, upgrade.out).toBe(0);
    expect(upgrade.out).toContain('saslauthd-mysql: saslauthd-mysql.service is enabled and active');
    const pidAfter = sh('systemctl show -p MainPID --value saslauthd-mysql').out;
    expect(pidAfter).not.toBe(pidBefore);
    expect(pidAfter).not.toBe('0');
    expect(sh('systemctl show -p StatusText --value saslauthd-mysql').out).toBe(`serving, version ${NEXT_VERSION}`);
    expect(journal()).toMatch(new RegExp(`"version":"${NEXT_VERSION.replace(/\./g, '\\.')}".*"msg":"listening"`));
    expect(sh('saslauthd-mysql --version').out).toContain(NEXT_VERSION);
    expectServed('after the upgrade');

    // Remove: stopped, socket gone; Postfix says "try again later", never "wrong password".
    expect(sh('apt-get remove -y -qq saslauthd-mysql >/dev/null 2>&1').status).toBe(0);
    expect(sh('systemctl is-active saslauthd-mysql').out).toBe('inactive');
    expect(sh(`test -e ${CHROOT_RUN_DIR}/mux && echo present || echo gone`).out).toBe('gone');
    expect(smtpAuth('alice-pw'), 'removed').toBe('454');

    // Reinstall: the unit is still enabled (remove keeps that), and the postinst says how it stands.
    const reinstall = sh(`apt-get install -y -qq --no-install-recommends ${inside.next} 2>&1`);
    expect(reinstall.status, reinstall.out).toBe(0);
    expect(reinstall.out).toContain('saslauthd-mysql: saslauthd-mysql.service is enabled and inactive');
    expect(reinstall.out).toContain('start it: systemctl start saslauthd-mysql.service');
    expect(sh('systemctl start saslauthd-mysql').status).toBe(0);
    expectServed('reinstalled');

    // Purge: the account stays (Debian's practice); the directories go back to root, group and mode kept.
    expect(sh('systemctl stop saslauthd-mysql && apt-get purge -y -qq saslauthd-mysql >/dev/null 2>&1').status).toBe(0);
    expect(sh('getent passwd saslauthd-mysql >/dev/null && echo kept').out).toBe('kept');
    expect(sh('test -e /etc/default/saslauthd-mysql && echo present || echo gone').out).toBe('gone');
    expect(sh(`stat -c %U:%G:%a ${CHROOT_RUN_DIR}`).out).toBe('root:sasl:710');
    expect(sh('systemctl enable --now saslauthd').status).toBe(0);
    expectServed('back on saslauthd after the purge');
  }, 1_200_000);
});
