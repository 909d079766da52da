/**
 * docs/migration.md, carried out: a Postfix smtpd authenticating through
 * the real saslauthd -a pam -r + pam_mysql; the switch to saslauthd-mysql
 * with the same flags on the same socket path, Postfix untouched; then the
 * rollback to saslauthd. Every stage must log users in (235) and turn wrong
 * passwords away (535) through Postfix, and Postfix's files must not change.
 *
 * saslauthd -a pam reads only /etc/pam.d: a uniquely named service is written
 * there (and removed), and Postfix asks for it with smtpd_sasl_service.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { startSaslauthd, stopSaslauthd } from '../helpers/saslauthd.js';
import { vector } from '../helpers/vectors.js';
import { freePort, seedMailboxServer, ThrowawayServer } from '../helpers/mysql.js';
import { expectPostfixLogins, postfixSuiteProblems, startPostfix, type PostfixInstance } from '../helpers/postfix.js';
import { suiteTempDir } from '../helpers/temp.js';

const SERVICE = `sm-mig-${randomBytes(4).toString('hex')}`;
const PAM_FILE = path.join('/etc/pam.d', SERVICE);

let server: ThrowawayServer;
let postfix: PostfixInstance;
let port: number;
let runDir: string;
let oldChain: ChildProcess | undefined;
let ours: DaemonProcess | undefined;
let cleanup: () => void;

/** saslauthd's command line, as /etc/default/saslauthd would give it; saslauthd-mysql takes it unchanged. */
const FLAGS = () => ['-a', 'pam', '-r', '-m', runDir, '-n', '2'];

async function startOldChain(): Promise<void> {
  oldChain = await startSaslauthd(FLAGS(), runDir);
}

async function stopOldChain(): Promise<void> {
  const child = oldChain;
  oldChain = undefined;
  await stopSaslauthd(child);
}

/** Postfix's whole configuration directory, file by file. */
function postfixFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else files[path.relative(postfix.configDir, full)] = readFileSync(full, 'utf8');
    }
  };
  walk(postfix.configDir);
  return files;
}

async function expectLoginsWork(stage: string): Promise<void> {
  await expectPostfixLogins(postfix, port, stage, { user: 'alice@example.org', password: 'secret', wrong: 'Secret' });
}

beforeAll(async () => {
  const problems = postfixSuiteProblems();
  if (!existsSync('/usr/sbin/saslauthd')) problems.push('saslauthd is missing (apt-get install -y sasl2-bin)');
  if (problems.length > 0) throw new Error(`the migration suite cannot run: ${problems.join('; ')}`);
  server = await ThrowawayServer.create();
  await seedMailboxServer(server, [{ username: 'alice@example.org', password: vector('libxcrypt', '$1$ md5crypt', 'secret') }], { user: 'database', password: 'password' });
  const line = `pam_mysql.so user=database passwd=password host=127.0.0.1:${server.port} db=postfix table=mailbox usercolumn=username passwdcolumn=password crypt=1 md5=1 where=active=1`;
  writeFileSync(PAM_FILE, `auth    required   ${line}\naccount sufficient ${line}\n`);

  const { dir, remove } = suiteTempDir();
  cleanup = remove;
  chmodSync(dir, 0o755);
  runDir = path.join(dir, 'saslauthd');
  mkdirSync(runDir, { mode: 0o755 });
  port = await freePort();
  postfix = await startPostfix({
    dir: path.join(dir, 'postfix'),
    saslauthdPath: path.join(runDir, 'mux'),
    listeners: [{ port, overrides: { smtpd_sasl_service: SERVICE } }],
  });
}, 90_000);

afterAll(async () => {
  await stopOldChain();
  await ours?.stop();
  await postfix?.stop();
  await server?.destroy();
  rmSync(PAM_FILE, { force: true });
  cleanup?.();
}, 60_000);

describe('the migration guide, through a real Postfix', () => {
  it('saslauthd + pam_mysql -> saslauthd-mysql on the same socket -> rollback to saslauthd', async () => {
    await startOldChain();
    await expectLoginsWork('before: saslauthd + pam_mysql');
    const before = postfixFiles();

    // The switch: stop saslauthd, start saslauthd-mysql with saslauthd's own flags.
    await stopOldChain();
    ours = await spawnDaemon(FLAGS(), { forSuite: true });
    await expectLoginsWork('after the switch: saslauthd-mysql');
    expect(ours.records().some((record) => record.event === 'auth' && record.user === 'alice@example.org' && record.service === SERVICE)).toBe(true);

    // The rollback: stop saslauthd-mysql (it removes its socket), start saslauthd again.
    expect((await ours.stop()).code).toBe(0);
    ours = undefined;
    expect(existsSync(path.join(runDir, 'mux'))).toBe(false);
    await startOldChain();
    await expectLoginsWork('after the rollback: saslauthd + pam_mysql');

    expect(postfixFiles()).toEqual(before);
  }, 120_000);
});
