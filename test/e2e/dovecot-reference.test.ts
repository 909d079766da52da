/**
 * The Dovecot-protocol listener against the real thing: one Postfix smtpd
 * with two listeners, one asking Dovecot's own auth service
 * (smtpd_sasl_type = dovecot on its auth-client socket), one asking
 * saslauthd-mysql's --dovecot-socket, the same passwd-file behind both. For
 * every case, PLAIN and LOGIN, Postfix must answer the same. Needs root,
 * postfix, swaks and dovecot-core; fails (never skips) without them.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { DEMO_HASH } from '../helpers/daemon.js';
import { dovecotSuiteProblems, startDovecotAuth, type DovecotAuth } from '../helpers/dovecot.js';
import { freePort } from '../helpers/mysql.js';
import { postfixSuiteProblems, startPostfix, swaksAuth, type PostfixInstance } from '../helpers/postfix.js';
import { suiteTempDir } from '../helpers/temp.js';

let daemon: DaemonProcess;
let dovecot: DovecotAuth;
let postfix: PostfixInstance;
let ports: { ours: number; dovecot: number };
let cleanup: () => void;

beforeAll(async () => {
  const problems = [...postfixSuiteProblems(), ...dovecotSuiteProblems()];
  if (problems.length > 0) throw new Error(`the Dovecot reference suite cannot run: ${problems.join('; ')}`);
  const { dir, remove } = suiteTempDir();
  cleanup = remove;
  chmodSync(dir, 0o755);
  const passwd = path.join(dir, 'passwd');
  writeFileSync(passwd, `alice@example.org:${DEMO_HASH}\n`, { mode: 0o644 });
  const runDir = path.join(dir, 'run');
  // --lowercase: Dovecot looks names up lower-cased by default (auth_username_format = %Lu).
  daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '--lowercase', '-m', runDir, '--dovecot-socket', path.join(runDir, 'auth'), '--socket-group', 'postfix', '--socket-mode', '0660'], { forSuite: true });
  dovecot = await startDovecotAuth(path.join(dir, 'dovecot'), passwd);
  ports = { ours: await freePort(), dovecot: await freePort() };
  postfix = await startPostfix({
    dir: path.join(dir, 'postfix'),
    saslauthdPath: path.join(runDir, 'mux'),
    listeners: [
      { port: ports.ours, overrides: { smtpd_sasl_type: 'dovecot', smtpd_sasl_path: path.join(runDir, 'auth') } },
      { port: ports.dovecot, overrides: { smtpd_sasl_type: 'dovecot', smtpd_sasl_path: dovecot.socketPath } },
    ],
  });
}, 120_000);

afterAll(async () => {
  await postfix?.stop();
  await dovecot?.stop();
  await daemon?.stop();
  cleanup?.();
}, 60_000);

describe("Postfix through saslauthd-mysql's Dovecot listener answers as through Dovecot's own auth service", () => {
  it.each([
    ['the right password', 'alice@example.org', 'demo'],
    ['a wrong password', 'alice@example.org', 'Demo'],
    ['an unknown user', 'nobody@example.org', 'demo'],
    ['the name in another case (Dovecot lower-cases it by default, as --lowercase does)', 'ALICE@example.org', 'demo'],
  ])('%s, PLAIN and LOGIN', async (_case, user, password) => {
    for (const mechanism of ['PLAIN', 'LOGIN'] as const) {
      const [ours, reference] = await Promise.all([swaksAuth({ port: ports.ours, mechanism, user, password }), swaksAuth({ port: ports.dovecot, mechanism, user, password })]);
      expect(reference.code, reference.transcript).toBeDefined();
      expect(ours.code, `${mechanism}: ours ${ours.reply}, Dovecot ${reference.reply}\n${postfix.maillog().slice(-2000)}`).toBe(reference.code);
    }
  }, 60_000);
});
