/**
 * Debian 13's Dovecot (2.4) with `saslauthd-mysql dovecot-config --dovecot-version 2.4`'s
 * settings (npm run test:systemd: it downloads a Debian system). Debian 13's dovecot-core,
 * dovecot-imapd, dovecot-pop3d, dovecot-auth-lua and lua-socket in a debootstrapped root, run
 * with systemd-nspawn on this host's network (no boot: only Dovecot runs there); the daemons run
 * here from the checkout, their run directories bound into the root at the same paths. Real
 * IMAP and POP3 logins from this host.
 *
 * Shown, for 2.4's syntax and Lua API: the Lua passdb through the daemon answers right, wrong and
 * unknown as it should, with the service name (2.4 calls it protocol) and the client's address,
 * and a temporary failure with the daemon stopped; the auth policy beside Dovecot's own passdb
 * pairs 2.4's reports (whose fail_type differs from their allow's) and counts their failures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { DEMO_HASH, eventually } from '../helpers/daemon.js';
import { imapLogin, pop3Login } from '../helpers/mail-clients.js';
import { freePort } from '../helpers/mysql.js';
import { DebianMachine, nspawnProblems } from '../helpers/nspawn.js';
import { suiteTempDir } from '../helpers/temp.js';

const LUA = new URL('../../docs/examples/dovecot/saslauthd-mysql.lua', import.meta.url).pathname;
const SECRET = 'debian13-policy-secret-0123456789';

let machine: DebianMachine;
let work: string;
let cleanup: () => void;

/** Dovecot 2.4 from the machine's root, on this host's network, with this configuration; stopped after the test file. */
async function startDovecot(name: string, settings: string, passdb: string): Promise<{ readonly imap: number; readonly pop3: number; log(): string; stop(): void }> {
  const dir = path.join(work, name);
  // Under the work directory, which is bound into the root at its own path: the same files on both sides.
  for (const sub of ['run', 'state', 'mail']) mkdirSync(path.join(dir, sub), { recursive: true });
  chmodSync(path.join(dir, 'mail'), 0o777);
  const [imap, pop3] = [await freePort(), await freePort()];
  const conf = path.join(dir, 'dovecot.conf');
  writeFileSync(
    conf,
    [
      'dovecot_config_version = 2.4.0',
      'dovecot_storage_version = 2.4.0',
      `base_dir = ${dir}/run`,
      `state_dir = ${dir}/state`,
      `log_path = ${dir}/log`,
      'protocols = imap pop3',
      'listen = 127.0.0.1',
      'ssl = no',
      'auth_allow_cleartext = yes',
      'auth_failure_delay = 0',
      'login_trusted_networks = 127.0.0.0/8',
      settings,
      passdb,
      'userdb static {',
      '  fields {',
      '    uid = nobody',
      '    gid = nogroup',
      `    home = ${dir}/mail/%{user}`,
      '  }',
      '}',
      'mail_driver = maildir',
      'mail_path = ~/Maildir',
      `service imap-login {\n  inet_listener imap {\n    port = ${imap}\n  }\n  inet_listener imaps {\n    port = 0\n  }\n}`,
      `service pop3-login {\n  inet_listener pop3 {\n    port = ${pop3}\n  }\n  inet_listener pop3s {\n    port = 0\n  }\n}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('systemd-nspawn', ['-D', machine.root, '--register=no', '--keep-unit', '-q', `--bind=${work}:${work}`, '/usr/sbin/dovecot', '-F', '-c', conf], { stdio: 'ignore' });
  const log = () => (existsSync(path.join(dir, 'log')) ? readFileSync(path.join(dir, 'log'), 'utf8') : '');
  await eventually(() => /starting up for imap, pop3/.test(log()), 30_000);
  return { imap, pop3, log, stop: () => child.kill('SIGTERM') };
}

function authRecords(daemon: DaemonProcess, user: string, service: string): Record<string, unknown>[] {
  return daemon.records().filter((record) => record.event === 'auth' && record.user === user && record.service === service);
}

beforeAll(async () => {
  expect(nspawnProblems()).toEqual([]);
  machine = DebianMachine.create('trixie', ['dovecot-core', 'dovecot-imapd', 'dovecot-pop3d', 'dovecot-auth-lua', 'lua-socket']);
  const version = machine.prepare('dovecot --version');
  expect(version.stdout).toMatch(/^2\.4\./);
  ({ dir: work, remove: cleanup } = suiteTempDir());
  chmodSync(work, 0o755);
  // The work directory at the same path inside the root, so that the paths dovecot-config prints hold there too.
  mkdirSync(path.join(machine.root, work), { recursive: true });
  writeFileSync(path.join(work, 'passwd'), `alice@example.org:${DEMO_HASH}\n`);
}, 600_000);

afterAll(async () => {
  await machine?.destroy();
  cleanup?.();
});

describe("Debian 13's Dovecot 2.4", () => {
  it('checks IMAP and POP3 passwords through the daemon with the Lua passdb dovecot-config prints for it', async () => {
    const runDir = path.join(work, 'run-lua');
    const flags = ['-a', 'passwd-file', '-O', path.join(work, 'passwd'), '-m', runDir];
    const daemon = await spawnDaemon([...flags, '-V']);
    chmodSync(runDir, 0o755);
    const lua = path.join(work, 'saslauthd-mysql.lua');
    copyFileSync(LUA, lua);
    const settings = await runCli(['dovecot-config', ...flags, '--lua-file', lua, '--dovecot-version', '2.4']);
    expect(settings.code, settings.stderr).toBe(0);
    const dovecot = await startDovecot('dovecot-lua', settings.stdout, '');
    try {
      expect((await imapLogin(dovecot.imap, 'alice@example.org', 'demo', '127.0.40.1')).ok, dovecot.log()).toBe(true);
      const wrong = await imapLogin(dovecot.imap, 'alice@example.org', 'wrong');
      expect(wrong.line).toMatch(/^a NO \[AUTHENTICATIONFAILED\]/);
      expect((await imapLogin(dovecot.imap, 'nobody@example.org', 'demo')).line).toMatch(/^a NO \[AUTHENTICATIONFAILED\]/);
      expect((await pop3Login(dovecot.pop3, 'alice@example.org', 'demo')).ok).toBe(true);
      await eventually(() => authRecords(daemon, 'alice@example.org', 'pop3').length === 1, 5_000);
      // 2.4's name for the service, and the client's address, reach the daemon.
      expect(authRecords(daemon, 'alice@example.org', 'imap')[0]).toMatchObject({ result: 'success' });
      expect(String(authRecords(daemon, 'alice@example.org', 'imap')[0]!.remote)).toMatch(/^127\.0\.40\.1;/);
      expect(dovecot.log()).not.toMatch(/invalid (error )?return value/);
      await daemon.stop();
      expect((await imapLogin(dovecot.imap, 'alice@example.org', 'demo')).line).toMatch(/^a NO \[UNAVAILABLE\]/);
    } finally {
      dovecot.stop();
    }
  }, 120_000);

  it('asks the auth policy with the settings dovecot-config prints for 2.4, and the daemon counts its failures', async () => {
    const secretFile = path.join(work, 'policy.secret');
    writeFileSync(secretFile, SECRET, { mode: 0o600 });
    const flags = ['-a', 'passwd-file', '-O', path.join(work, 'passwd'), '-m', path.join(work, 'run-policy'), '--dovecot-policy-listen', String(await freePort()), '--dovecot-policy-secret-file', secretFile];
    const daemon = await spawnDaemon([...flags, '-V']);
    const settings = await runCli(['dovecot-config', ...flags, '--dovecot-version', '2.4']);
    expect(settings.code, settings.stderr).toBe(0);
    const users = path.join(work, 'dovecot-users');
    writeFileSync(users, 'alice@example.org:{PLAIN}demo\n');
    const dovecot = await startDovecot('dovecot-policy', settings.stdout, `passdb passwd-file {\n  passwd_file_path = ${users}\n}`);
    try {
      expect((await imapLogin(dovecot.imap, 'alice@example.org', 'demo')).ok, dovecot.log()).toBe(true);
      expect((await imapLogin(dovecot.imap, 'alice@example.org', 'wrong')).ok).toBe(false);
      expect((await imapLogin(dovecot.imap, 'nobody@example.org', 'x')).ok).toBe(false);
      await eventually(() => daemon.records().filter((record) => record.listener === 'policy').length === 3, 5_000);
      expect(daemon.records().filter((record) => record.listener === 'policy').map((record) => [record.user, record.result, record.code ?? null])).toEqual([
        ['alice@example.org', 'success', null],
        ['alice@example.org', 'failure', 'ERR_WRONG_PASSWORD'],
        ['nobody@example.org', 'failure', 'ERR_UNKNOWN_USER'],
      ]);
      expect(daemon.records().filter((record) => record.code === 'ERR_POLICY_UNAUTHORIZED' || record.code === 'ERR_POLICY_MALFORMED')).toEqual([]);
      await daemon.stop();
    } finally {
      dovecot.stop();
    }
  }, 120_000);
});
