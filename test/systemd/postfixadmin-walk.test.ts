/**
 * docs/postfixadmin.md on a Debian 13 host under the packaged unit (npm run
 * test:systemd): Debian's own PostfixAdmin 3.3 makes its schema and a
 * mailbox (md5crypt, Debian's default); then the page's steps with its own
 * blocks: the reader's grants, the shortest configuration (in
 * /etc/default under the unit), check as root (the preset's line, read as
 * the service's user), deployment.md's shared throttle in Redis (its blocks
 * as written), logins through the unit's socket, PostfixAdmin
 * switched to php_crypt:SHA512, the writer's grant, the rehash lines and a
 * reload; a login re-hashes the row to SHA512-CRYPT, the counter and the
 * page's SQL show it, PostfixAdmin's own pacrypt() accepts the new value,
 * and the user still logs in.
 */
import { describe, expect, it } from 'vitest';
import { buildDeb } from '../../packaging/build-deb.js';
import { afterThisTest } from '../helpers/cleanup.js';
import { DebianMachine, nspawnProblems } from '../helpers/nspawn.js';
import { tempDir } from '../helpers/temp.js';
import { docBlocks } from '../helpers/doc-recipes.js';

const PAGE = 'postfixadmin.md';
const READER_PASSWORD = 'reader-Secret-1';
const WRITER_PASSWORD = 'writer-Secret-2';
const ALICE_PASSWORD = 'alice-Mailbox-34';
const METRICS_PORT = 9144;
const REDIS_PASSWORD = 'redis-Secret-5';

/** A doc block with the page's '...' placeholder for a password filled in. */
const filled = (block: string, password: string) => block.replaceAll("'...'", `'${password}'`).replace(/^password = \.\.\.$/m, `password = ${password}`);

/** Only what PostfixAdmin 3.3's schema has: the page's 4.x grants are for tables 3.3 does not make. */
const upTo4x = (sql: string) => sql.slice(0, sql.includes('-- PostfixAdmin 4.x:') ? sql.indexOf('-- PostfixAdmin 4.x:') : undefined);

describe('docs/postfixadmin.md under the packaged unit on Debian 13', () => {
  it('PostfixAdmin makes the mailbox; the preset serves it; re-hashing moves it to SHA512-CRYPT, and PostfixAdmin still accepts it', async () => {
    expect(nspawnProblems()).toEqual([]);
    const [shortest] = docBlocks(PAGE, '## The shortest configuration', 'ini');
    const [underUnit] = docBlocks(PAGE, '## The shortest configuration', 'sh').slice(1);
    const [grants] = docBlocks(PAGE, '## Grants', 'sql');
    const [writerGrant] = docBlocks(PAGE, "### The writer's grant", 'sql');
    const [rehashLines] = docBlocks(PAGE, '## Re-hashing on login', 'ini');
    const [progress] = docBlocks(PAGE, '### Rolling it out', 'sql');
    for (const block of [shortest, underUnit, grants, writerGrant, rehashLines, progress]) expect(block).toBeTruthy();

    const deb = buildDeb(tempDir());
    const machine = DebianMachine.create('trixie', ['ca-certificates']);
    afterThisTest(() => machine.destroy());
    const debInside = machine.copyIn(deb, '/root/saslauthd-mysql.deb');
    const installed = machine.prepare(`
      # PostfixAdmin's database is set up by hand below (as with dbconfig-common declined); no web server.
      echo "postfixadmin postfixadmin/dbconfig-install boolean false" | debconf-set-selections
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends mariadb-server postfixadmin php-cli php-mysql php-mbstring sasl2-bin curl nodejs redis-server >/dev/null
      # testsaslauthd is the client here; Debian's saslauthd stays off.
      systemctl disable saslauthd >/dev/null 2>&1 || true
      apt-get install -y -qq --no-install-recommends ${debInside} >/dev/null`);
    expect(installed.status, installed.stderr).toBe(0);
    await machine.boot();

    const sh = (script: string) => {
      const result = machine.run(script);
      return { ...result, out: `${result.stdout}${result.stderr}`.trim() };
    };
    const ok = (script: string) => {
      const result = sh(script);
      expect(result.status, `${script}\n${result.out}`).toBe(0);
      return result.out;
    };
    const sql = (statements: string) => ok(`mariadb -N postfix <<'SQL'\n${statements}\nSQL`);
    const journal = () => sh('journalctl -u saslauthd-mysql --no-pager -o cat').out;
    const login = (password: string) => sh(`testsaslauthd -u alice@example.org -p '${password}' -s smtp -f /run/saslauthd/mux`).out;
    const storedValue = () => sql("SELECT password FROM mailbox WHERE username = 'alice@example.org';");

    // PostfixAdmin 3.3 as Debian 13 ships it: its own upgrade.php makes the schema, its own CLI the domain and mailbox.
    ok(String.raw`mariadb <<'SQL'
CREATE DATABASE postfix;
CREATE USER 'postfixadmin'@'localhost' IDENTIFIED BY 'pfa-Secret-0';
GRANT ALL ON postfix.* TO 'postfixadmin'@'localhost';
SQL
cat > /etc/postfixadmin/dbconfig.inc.php <<'PHP'
<?php
$dbtype = 'mysqli'; $dbserver = 'localhost'; $dbuser = 'postfixadmin'; $dbpass = 'pfa-Secret-0'; $dbname = 'postfix';
PHP
cat > /etc/postfixadmin/config.local.php <<'PHP'
<?php
$CONF['configured'] = true;
$CONF['emailcheck_resolve_domain'] = 'NO';
PHP`);
    const upgrade = ok('cd /usr/share/postfixadmin/public && php upgrade.php');
    expect(upgrade).not.toMatch(/Fatal error|DB update failed/);
    const cli = 'php /usr/share/postfixadmin/scripts/postfixadmin-cli.php';
    ok(`cd /usr/share/postfixadmin/scripts && ${cli} domain add example.org --description test --aliases 10 --mailboxes 10 --active 1`);
    ok(`cd /usr/share/postfixadmin/scripts && ${cli} mailbox add alice@example.org --password '${ALICE_PASSWORD}' --password2 '${ALICE_PASSWORD}' --name Alice --active 1`);
    expect(storedValue()).toMatch(/^\$1\$/);

    // The reader, the configuration file as the page writes it, the settings under the unit, then check as root.
    sql(filled(upTo4x(grants!), READER_PASSWORD));
    ok(`install -d -m 0750 -g saslauthd-mysql /etc/saslauthd-mysql && cat > /etc/saslauthd-mysql/mysql.conf <<'INI'\n${filled(shortest!, READER_PASSWORD)}INI\nchgrp saslauthd-mysql /etc/saslauthd-mysql/mysql.conf && chmod 0640 /etc/saslauthd-mysql/mysql.conf`);
    ok(`cat >> /etc/default/saslauthd-mysql <<'ENV'\n${underUnit}SASLAUTHD_MYSQL_METRICS_PORT=${METRICS_PORT}\nENV`);
    const check = sh('saslauthd-mysql check --user alice@example.org');
    expect(check.status, check.out).toBe(0);
    expect(check.out).toMatch(/ok: the settings' files and the lookup checked as saslauthd-mysql/);
    expect(check.out).toContain('ok: postfixadmin preset: rules on: mailbox.active, domain.active, password expiry; off: smtp_active (no mailbox.smtp_active), app passwords (no mailbox_app_password table), TOTP (no mailbox.totp_secret)');
    expect(check.out).toMatch(/ok: user alice@example\.org \(service smtp\): found in .*; stored value is MD5-CRYPT/);

    // deployment.md's shared throttle, its two blocks as written (this machine's Redis stands in for 10.0.0.20),
    // with an ACL user that may touch only the keys the page says the daemon uses.
    const [redisSettings, keyCommands] = docBlocks('deployment.md', '### The shared throttle: Redis', 'sh');
    ok(`redis-cli ACL SETUSER saslauthd on '>${REDIS_PASSWORD}' '~saslauthd-mysql:throttle:*' '+@all'`);
    ok(keyCommands!.replace(/\s+#.*$/gm, ''));
    expect(ok('stat -c %U:%G:%a /etc/saslauthd-mysql/throttle.key')).toBe('root:saslauthd-mysql:640');
    ok(`cat >> /etc/default/saslauthd-mysql <<'ENV'\n${redisSettings!.replace('PASSWORD', REDIS_PASSWORD).replace('10.0.0.20', '127.0.0.1')}ENV`);

    ok('systemctl enable --now saslauthd-mysql.service');
    expect(login(ALICE_PASSWORD)).toContain('0: OK "Success."');
    expect(login('not-her-password')).toContain('0: NO "authentication failed"');
    // Failures are counted in Redis (once the store's connection, made in the background at start, is up),
    // under keyed digests with the page's prefix, each with an expiry.
    const redisKeys = () => ok(`redis-cli --user saslauthd --pass '${REDIS_PASSWORD}' --no-auth-warning -n 2 --scan`).split('\n').filter(Boolean);
    let keys = redisKeys();
    for (let i = 0; i < 10 && keys.length === 0; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(login(`still-not-her-password-${i}`)).toContain('0: NO "authentication failed"');
      keys = redisKeys();
    }
    expect(keys.length, journal()).toBeGreaterThan(0);
    for (const key of keys) {
      expect(key).toMatch(/^saslauthd-mysql:throttle:/);
      expect(key).not.toContain('alice');
      expect(Number(ok(`redis-cli --user saslauthd --pass '${REDIS_PASSWORD}' --no-auth-warning -n 2 PTTL '${key}'`))).toBeGreaterThan(0);
    }
    expect(journal()).not.toMatch(/throttle store unreachable|plain SHA-256 digests/);
    expect(storedValue(), 'nothing is re-hashed before it is configured').toMatch(/^\$1\$/);

    // Rolling it out, step 1: PostfixAdmin checks crypt(3) values of any kind and writes SHA512-CRYPT.
    ok(`echo "\\$CONF['encrypt'] = 'php_crypt:SHA512';" >> /etc/postfixadmin/config.local.php`);
    // Steps 2 and 3: the writer, its password in a file only the daemon reads, the page's lines, a reload.
    sql(filled(writerGrant!, WRITER_PASSWORD));
    ok(`printf '%s\\n' '${WRITER_PASSWORD}' > /etc/saslauthd-mysql/rehash-password && chgrp saslauthd-mysql /etc/saslauthd-mysql/rehash-password && chmod 0640 /etc/saslauthd-mysql/rehash-password`);
    ok(`cat >> /etc/saslauthd-mysql/mysql.conf <<'INI'\n${rehashLines}INI`);
    const recheck = sh('saslauthd-mysql check --user alice@example.org');
    expect(recheck.status, recheck.out).toBe(0);
    ok('systemctl reload saslauthd-mysql');
    expect(journal()).toContain('configuration reloaded');

    // A login re-hashes the row, after its answer.
    const before = storedValue();
    expect(login(ALICE_PASSWORD)).toContain('0: OK "Success."');
    let after = before;
    for (let i = 0; i < 50 && after === before; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = storedValue();
    }
    expect(after).toMatch(/^\$6\$/);
    // Step 4: the counter and the page's SQL.
    expect(ok(`curl -sf http://127.0.0.1:${METRICS_PORT}/metrics`)).toMatch(/^saslauthd_mysql_rehash_total\{from="MD5-CRYPT",to="SHA512-CRYPT",result="written"\} 1$/m);
    expect(sql(progress!)).toBe('$6$\t1');
    // PostfixAdmin's own pacrypt() with the setting of step 1 accepts the value the daemon wrote.
    const accepted = ok(`cd /usr/share/postfixadmin/public && php -r '$CONF = []; require "../common.php"; echo pacrypt($argv[1], $argv[2]) === $argv[2] ? "yes" : "no";' '${ALICE_PASSWORD}' '${after}'`);
    expect(accepted.split('\n').at(-1)).toBe('yes');
    // And the user logs in on the new value; a wrong password is still a no.
    expect(login(ALICE_PASSWORD)).toContain('0: OK "Success."');
    expect(login('not-her-password')).toContain('0: NO "authentication failed"');
    expect(storedValue()).toBe(after);
    expect(journal()).not.toMatch(/rehash.*(failed|denied)/i);
  }, 900_000);
});
