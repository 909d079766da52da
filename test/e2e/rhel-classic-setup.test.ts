/**
 * docs/rhel.md's switch, on this machine with the classic RHEL setup's own
 * files: /etc/sysconfig/saslauthd as cyrus-sasl ships it with the guide's
 * MECH=pam and FLAGS="-r", the pam_mysql lines of the 2006 CentOS guide
 * (crypt=1 md5=1) behind RHEL's alternatives link (/etc/pam.d/smtp ->
 * smtp.postfix), and a Postfix whose smtpd.conf is RHEL's /etc/sasl2 file.
 *
 * saslauthd runs as its RHEL unit runs it (the file's lines, then
 * `saslauthd -m $SOCKETDIR -a $MECH $FLAGS`); saslauthd-mysql runs as the
 * RPM's unit runs it (its Environment= and EnvironmentFile= lines, the RPM's
 * /etc/sysconfig/saslauthd-mysql as shipped, the bare ExecStart), so the
 * switch edits nothing; then the rollback, with saslauthd's file unchanged.
 * Two things differ from a RHEL host, and only in where files are: the
 * sysconfig files sit in a scratch directory (the shipped file's one path
 * line points there), and the PAM service has a unique name so that no
 * real /etc/pam.d/smtp is touched (Postfix asks for it by smtpd_sasl_service).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rhelUnit } from '../../packaging/build-rpm.js';
import { parseEnvironmentFile } from '../../src/config/environment-file.js';
import { findTestsaslauthd, runCli, spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { rhelSaslauthdSysconfig, startSaslauthd, stopSaslauthd } from '../helpers/saslauthd.js';
import { vector } from '../helpers/vectors.js';
import { freePort, seedMailboxServer, ThrowawayServer } from '../helpers/mysql.js';
import { expectPostfixLogins, postfixSuiteProblems, startPostfix, type PostfixInstance } from '../helpers/postfix.js';
import { suiteTempDir } from '../helpers/temp.js';

const SERVICE = `sm-rhel-${randomBytes(4).toString('hex')}`;
const PAM_LINK = path.join('/etc/pam.d', SERVICE);
const PAM_FILE = `${PAM_LINK}.postfix`;

// RHEL 9's /usr/sbin/saslauthd unit line, and its /etc/sasl2/smtpd.conf for Postfix.
const SASLAUTHD_EXEC = '/usr/sbin/saslauthd -m $SOCKETDIR -a $MECH $FLAGS';
const RHEL_SMTPD_CONF = 'pwcheck_method: saslauthd\nmech_list: plain login\n';

let server: ThrowawayServer;
let postfix: PostfixInstance;
let port: number;
let etc: string;
let socketDir: string;
let saslauthdSysconfig: string;
let oldChain: ChildProcess | undefined;
let ours: DaemonProcess | undefined;
let cleanup: () => void;

/** What systemd makes of `ExecStart=... $VAR`: each variable split at whitespace. */
function expandUnitLine(line: string, env: Readonly<Record<string, string>>): string[] {
  return line.split(/\s+/).flatMap((word) => (word.startsWith('$') ? (env[word.slice(1)] ?? '').split(/\s+/).filter(Boolean) : [word]));
}

async function startSaslauthdAsItsUnitDoes(): Promise<void> {
  const [command, ...args] = expandUnitLine(SASLAUTHD_EXEC, parseEnvironmentFile(readFileSync(saslauthdSysconfig, 'utf8')));
  expect(command).toBe('/usr/sbin/saslauthd');
  oldChain = await startSaslauthd(args, socketDir);
}

async function stopOldChain(): Promise<void> {
  const child = oldChain;
  oldChain = undefined;
  await stopSaslauthd(child);
}

/** The environment the RPM's unit gives the daemon: its Environment= line, then its EnvironmentFile=, moved to the scratch /etc. */
function unitEnvironment(): NodeJS.ProcessEnv {
  const unit = rhelUnit('saslauthd-mysql.service');
  expect(unit).toMatch(/^ExecStart=\/usr\/sbin\/saslauthd-mysql$/m);
  const env: Record<string, string> = {};
  for (const [, assignments] of unit.matchAll(/^Environment=(.*)$/gm)) {
    for (const assignment of assignments!.split(/\s+/)) env[assignment.slice(0, assignment.indexOf('='))] = assignment.slice(assignment.indexOf('=') + 1).replace('/etc/', `${etc}/`);
  }
  const file = /^EnvironmentFile=-(.*)$/m.exec(unit)![1]!;
  Object.assign(env, parseEnvironmentFile(readFileSync(path.join(etc, path.relative('/etc', file)), 'utf8')));
  const { PATH, HOME } = process.env;
  return { PATH, HOME, ...env };
}

async function expectLogins(stage: string): Promise<void> {
  const testsaslauthd = spawnSync(findTestsaslauthd(), ['-f', path.join(socketDir, 'mux'), '-s', SERVICE, '-u', 'alice', '-r', 'example.org', '-p', 'secret'], { encoding: 'utf8' });
  expect(testsaslauthd.stdout, `${stage}: testsaslauthd`).toMatch(/^0: OK "Success\."/);
  await expectPostfixLogins(postfix, port, stage, { user: 'alice@example.org', password: 'secret', wrong: 'Secret' });
}

beforeAll(async () => {
  const problems = postfixSuiteProblems();
  if (!existsSync('/usr/sbin/saslauthd')) problems.push('saslauthd is missing (apt-get install -y sasl2-bin)');
  if (problems.length > 0) throw new Error(`the RHEL classic-setup suite cannot run: ${problems.join('; ')}`);
  server = await ThrowawayServer.create();
  await seedMailboxServer(server, [{ username: 'alice@example.org', password: vector('libxcrypt', '$1$ md5crypt', 'secret') }], { user: 'database', password: 'password' });
  // The 2006 CentOS guide's lines, as they are (its host with the throwaway server's port).
  const line = `pam_mysql.so user=database passwd=password host=127.0.0.1:${server.port} db=postfix table=mailbox usercolumn=username passwdcolumn=password crypt=1 md5=1`;
  writeFileSync(PAM_FILE, `auth    required   ${line}\naccount sufficient ${line}\n`);
  symlinkSync(PAM_FILE, PAM_LINK);

  const { dir, remove } = suiteTempDir();
  cleanup = remove;
  chmodSync(dir, 0o755);
  etc = path.join(dir, 'etc');
  mkdirSync(path.join(etc, 'sysconfig'), { recursive: true });
  socketDir = path.join(dir, 'run', 'saslauthd');
  mkdirSync(socketDir, { recursive: true, mode: 0o755 });
  saslauthdSysconfig = path.join(etc, 'sysconfig', 'saslauthd');
  writeFileSync(saslauthdSysconfig, rhelSaslauthdSysconfig(socketDir));
  // The RPM's file as shipped; only the path of saslauthd's file moves to the scratch /etc.
  const shipped = readFileSync(new URL('../../packaging/rpm/saslauthd-mysql.sysconfig', import.meta.url), 'utf8');
  expect(shipped).toMatch(/^SASLAUTHD_MYSQL_SASLAUTHD_SYSCONFIG=\/etc\/sysconfig\/saslauthd$/m);
  writeFileSync(path.join(etc, 'sysconfig', 'saslauthd-mysql'), shipped.replace(/^SASLAUTHD_MYSQL_SASLAUTHD_SYSCONFIG=.*$/m, `SASLAUTHD_MYSQL_SASLAUTHD_SYSCONFIG=${saslauthdSysconfig}`));

  port = await freePort();
  postfix = await startPostfix({ dir: path.join(dir, 'postfix'), saslauthdPath: path.join(socketDir, 'mux'), saslConf: RHEL_SMTPD_CONF, listeners: [{ port, overrides: { smtpd_sasl_service: SERVICE } }] });
}, 90_000);

afterAll(async () => {
  await stopOldChain();
  await ours?.stop();
  await postfix?.stop();
  await server?.destroy();
  rmSync(PAM_LINK, { force: true });
  rmSync(PAM_FILE, { force: true });
  cleanup?.();
}, 60_000);

describe("RHEL's classic setup, switched to saslauthd-mysql and back with no edit", () => {
  it('saslauthd from /etc/sysconfig/saslauthd -> the RPM unit\'s saslauthd-mysql from the same file -> saslauthd again', async () => {
    await startSaslauthdAsItsUnitDoes();
    await expectLogins('before: saslauthd -a pam -r + pam_mysql');
    const before = readFileSync(saslauthdSysconfig, 'utf8');

    // The switch: stop saslauthd, start saslauthd-mysql as the RPM's unit does. Nothing is edited.
    await stopOldChain();
    const env = unitEnvironment();
    const settings = await runCli(['config'], { env });
    expect(settings.code, settings.stderr).toBe(0);
    expect(settings.stdout).toMatch(new RegExp(`^--mech = pam +# MECH in ${saslauthdSysconfig}$`, 'm'));
    expect(settings.stdout).toMatch(new RegExp(`^--run-dir = ${socketDir} +# SOCKETDIR in ${saslauthdSysconfig}$`, 'm'));
    expect(settings.stdout).toMatch(new RegExp(`^--realm-join = yes +# -r in FLAGS of ${saslauthdSysconfig}$`, 'm'));
    ours = await spawnDaemon([], { forSuite: true, env });
    await ours.waitForOutput('listening', 15_000);
    await expectLogins('after the switch: saslauthd-mysql');
    // -r came from FLAGS: the login was looked up as alice@example.org, for the PAM service Postfix named.
    expect(ours.records().some((record) => record.event === 'auth' && record.user === 'alice@example.org' && record.service === SERVICE)).toBe(true);

    // The rollback: stop saslauthd-mysql (it removes its socket), start saslauthd from its unchanged file.
    expect((await ours.stop()).code).toBe(0);
    ours = undefined;
    expect(existsSync(path.join(socketDir, 'mux'))).toBe(false);
    expect(readFileSync(saslauthdSysconfig, 'utf8')).toBe(before);
    await startSaslauthdAsItsUnitDoes();
    await expectLogins('after the rollback: saslauthd + pam_mysql');
  }, 180_000);
});
