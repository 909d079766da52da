/**
 * PostfixAdmin 3.3 as Debian ships it (unpacked into build/postfixadmin by
 * .ci/unpack-postfixadmin), run with php-cli against a throwaway database:
 * its own schema upgrade (public/upgrade.php) makes the tables, its own CLI
 * (postfixadmin-cli) adds domains and mailboxes with its own hashing, and
 * its own pacrypt() says whether it still accepts a stored value. Each
 * setup gets a private copy of the application with its own configuration;
 * nothing under /etc is read or written.
 */
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT, run } from './cli.js';
import type { TestDatabase } from './mysql.js';

export const POSTFIXADMIN_TREE = path.join(PROJECT_ROOT, 'build', 'postfixadmin');
const APP = path.join(POSTFIXADMIN_TREE, 'usr', 'share', 'postfixadmin');

/** What is missing for the suite, as instructions. The suite fails on these: it never skips. */
export function postfixAdminProblems(): string[] {
  const problems: string[] = [];
  if (!existsSync(path.join(APP, 'public', 'upgrade.php'))) problems.push(`${APP} is missing: run .ci/unpack-postfixadmin (it unpacks Debian's postfixadmin package)`);
  if (!existsSync('/usr/bin/php')) problems.push('php is missing: apt-get install php-cli php-mysql php-mbstring');
  return problems;
}

export interface PostfixAdminDatabase {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

export interface PostfixAdmin {
  /** Run postfixadmin-cli; throws with its output when it reports an error. */
  cli(args: readonly string[]): Promise<string>;
  /** Whether PostfixAdmin's own pacrypt(), with this encrypt setting, accepts `password` for `stored`. */
  accepts(encrypt: string, password: string, stored: string): Promise<boolean>;
}

const php = (value: string) => `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

/** A private copy of PostfixAdmin configured for `db`, with its schema made by its own upgrade.php. */
export async function setUpPostfixAdmin(dir: string, db: PostfixAdminDatabase): Promise<PostfixAdmin> {
  const app = path.join(dir, 'postfixadmin');
  rmSync(app, { recursive: true, force: true });
  // The package's config.inc.php, config.local.php and templates_c are links into /etc and /var: replaced in the copy.
  cpSync(APP, app, { recursive: true, verbatimSymlinks: true });
  for (const link of ['config.inc.php', 'config.local.php', 'templates_c']) rmSync(path.join(app, link), { force: true, recursive: true });
  cpSync(path.join(POSTFIXADMIN_TREE, 'etc', 'postfixadmin', 'config.inc.php'), path.join(app, 'config.inc.php'));
  mkdirSync(path.join(app, 'templates_c'));
  // What Debian's dbconfig-common would write, and the site's own settings (Debian's defaults otherwise: encrypt = md5crypt).
  writeFileSync(
    path.join(app, 'dbconfig.inc.php'),
    `<?php\n$dbtype = 'mysqli';\n$dbserver = ${php(db.host)};\n$dbuser = ${php(db.user)};\n$dbpass = ${php(db.password)};\n$dbname = ${php(db.database)};\n`,
  );
  writeFileSync(
    path.join(app, 'config.local.php'),
    `<?php\n$CONF['configured'] = true;\n$CONF['database_port'] = ${php(String(db.port))};\n// example.org and friends do not resolve on a loopback-only machine.\n$CONF['emailcheck_resolve_domain'] = 'NO';\n`,
  );
  const upgraded = await run('php', [path.join(app, 'public', 'upgrade.php')], { cwd: path.join(app, 'public'), timeoutMs: 120_000 });
  if (upgraded.code !== 0 || /Fatal error|DB update failed/.test(upgraded.stdout + upgraded.stderr)) {
    throw new Error(`PostfixAdmin's upgrade.php failed:\n${upgraded.stdout.slice(-2000)}\n${upgraded.stderr.slice(-2000)}`);
  }
  return {
    async cli(args) {
      const done = await run('php', [path.join(app, 'scripts', 'postfixadmin-cli.php'), ...args], { cwd: path.join(app, 'scripts'), timeoutMs: 60_000 });
      const output = done.stdout + done.stderr;
      if (done.code !== 0 || /^Error:/m.test(output)) throw new Error(`postfixadmin-cli ${args.slice(0, 3).join(' ')} failed: ${output}`);
      return output;
    },
    async accepts(encrypt, password, stored) {
      const script = `$CONF = []; require ${php(path.join(app, 'common.php'))}; $CONF['encrypt'] = ${php(encrypt)}; echo (pacrypt(${php(password)}, ${php(stored)}) === ${php(stored)}) ? 'yes' : 'no';`;
      const done = await run('php', ['-r', script], { cwd: path.join(app, 'public'), timeoutMs: 30_000 });
      if (!/^(yes|no)$/.test(done.stdout.trim())) throw new Error(`pacrypt check failed: ${done.stdout}${done.stderr}`);
      return done.stdout.trim() === 'yes';
    },
  };
}

/**
 * PostfixAdmin 4.x's tables, as its public/upgrade.php builds them on MySQL:
 * the 3.3 mailbox and domain tables (latin1_general_ci since upgrade_1846)
 * with password_expiry (upgrade_1842); totp_secret,
 * totp_exception_address and mailbox_app_password (upgrade_1849, in the
 * server's default character set); and mailbox.smtp_active (TINYINT,
 * default 1). Only the columns that matter to logins, plus a few
 * neighbours so that the rows look like PostfixAdmin's.
 */
export const POSTFIXADMIN_4_SCHEMA = [
  `CREATE TABLE domain (
     domain VARCHAR(255) NOT NULL,
     description VARCHAR(255) CHARACTER SET utf8mb4 NOT NULL DEFAULT '',
     aliases INT NOT NULL DEFAULT 0,
     mailboxes INT NOT NULL DEFAULT 0,
     created DATETIME NOT NULL DEFAULT '2000-01-01 00:00:00',
     modified DATETIME NOT NULL DEFAULT '2000-01-01 00:00:00',
     active TINYINT(1) NOT NULL DEFAULT 1,
     password_expiry INT DEFAULT 0,
     PRIMARY KEY (domain)
   ) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_general_ci`,
  `CREATE TABLE mailbox (
     username VARCHAR(255) NOT NULL,
     password VARCHAR(255) NOT NULL,
     name VARCHAR(255) CHARACTER SET utf8mb4 NOT NULL DEFAULT '',
     maildir VARCHAR(255) NOT NULL DEFAULT '',
     quota BIGINT NOT NULL DEFAULT 0,
     local_part VARCHAR(255) NOT NULL DEFAULT '',
     domain VARCHAR(255) NOT NULL,
     created DATETIME NOT NULL DEFAULT '2000-01-01 00:00:00',
     modified DATETIME NOT NULL DEFAULT '2000-01-01 00:00:00',
     active TINYINT(1) NOT NULL DEFAULT 1,
     password_expiry DATETIME NOT NULL DEFAULT '2000-01-01 00:00:00',
     totp_secret VARCHAR(255) CHARACTER SET utf8mb4 DEFAULT NULL,
     smtp_active TINYINT(1) NOT NULL DEFAULT 1,
     PRIMARY KEY (username),
     KEY domain (domain)
   ) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_general_ci`,
  `CREATE TABLE totp_exception_address (
     id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
     ip VARCHAR(46) NOT NULL,
     username VARCHAR(255) DEFAULT NULL,
     description VARCHAR(255) DEFAULT NULL,
     UNIQUE KEY ip_user (ip, username)
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  `CREATE TABLE mailbox_app_password (
     id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
     username VARCHAR(255) DEFAULT NULL,
     description VARCHAR(255) DEFAULT NULL,
     password_hash VARCHAR(255) DEFAULT NULL
   ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
];

export interface PresetMailbox {
  readonly username: string;
  /** The stored value, as PostfixAdmin would have written it. */
  readonly password: string;
  readonly totpSecret?: string;
}

/**
 * PostfixAdmin 4.x's tables in a test database, with these mailboxes (every
 * domain active), app passwords and TOTP exception addresses; the reader
 * account of the database gets SELECT on them, as postfixadmin.md says.
 */
export async function seedPostfixAdmin(db: TestDatabase, content: { readonly mailboxes: readonly PresetMailbox[]; readonly appPasswords?: ReadonlyArray<readonly [username: string, hash: string]>; readonly totpExceptions?: ReadonlyArray<readonly [ip: string, username: string | null]> }): Promise<void> {
  for (const statement of POSTFIXADMIN_4_SCHEMA) await db.sql(statement);
  const domains = new Set(content.mailboxes.map((mailbox) => mailbox.username.slice(mailbox.username.lastIndexOf('@') + 1)));
  for (const domain of domains) await db.sql('INSERT INTO domain (domain, active, password_expiry) VALUES (?, 1, 0)', [domain]);
  for (const { username, password, totpSecret } of content.mailboxes) {
    const at = username.lastIndexOf('@');
    await db.sql('INSERT INTO mailbox (username, password, local_part, domain, active, smtp_active, password_expiry, totp_secret) VALUES (?, ?, ?, ?, 1, 1, NOW() + INTERVAL 1 YEAR, ?)', [username, password, username.slice(0, at), username.slice(at + 1), totpSecret ?? null]);
  }
  for (const [username, hash] of content.appPasswords ?? []) await db.sql("INSERT INTO mailbox_app_password (username, description, password_hash) VALUES (?, 'device', ?)", [username, hash]);
  for (const [ip, username] of content.totpExceptions ?? []) await db.sql("INSERT INTO totp_exception_address (ip, username, description) VALUES (?, ?, 'office')", [ip, username]);
}

/** The variables for -a mysql with the preset on a seeded database. */
export function presetEnv(db: TestDatabase, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SASLAUTHD_MYSQL_DB_HOSTS: `${db.host}:${db.port}`,
    SASLAUTHD_MYSQL_DB_DATABASE: db.database,
    SASLAUTHD_MYSQL_DB_USER: db.user,
    SASLAUTHD_MYSQL_DB_PASSWORD: db.password,
    SASLAUTHD_MYSQL_PRESET: 'postfixadmin',
    ...extra,
  };
}
