/**
 * The assembled daemon, in process, on a real passwd-file and a real UNIX
 * socket: answers, log lines, secrets, reloads and socket-file safety.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveDaemonConfig } from '../../src/config/daemon-config.js';
import { startDaemon } from '../../src/daemon.js';
import { DaemonError, ErrorCodes, SocketInUseError } from '../../src/errors.js';
import { bytes, FrameBuilder, requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { logSink } from '../helpers/log-sink.js';
import { DEMO_HASH, eventually, startTestDaemon } from '../helpers/daemon.js';
import { tempDir } from '../helpers/temp.js';

const USERS = [
  `demo@example.org:${DEMO_HASH}`,
  'plain@example.org:{PLAIN}plain-password',
  'twice@example.org:{PLAIN}a',
  'twice@example.org:{PLAIN}b',
  'empty@example.org:',
  'future@example.org:{SCRAM-SHA-256}whatever',
  'bare:{PLAIN}bare-password',
];

const ask = (socketPath: string, parts: Parameters<typeof requestFrame>[0]) => exchange(socketPath, requestFrame(parts)).then((r) => r.reply);

describe('answers with -r', () => {
  it('OK for the right password, NO for a wrong one or an unknown user, with one text for both', async () => {
    const { socketPath } = await startTestDaemon(USERS, { realmJoin: true });
    expect(await ask(socketPath, { login: 'demo', password: 'demo', service: 'smtp', realm: 'example.org' })).toBe('OK');
    expect(await ask(socketPath, { login: 'demo', password: 'wrong', service: 'smtp', realm: 'example.org' })).toBe('NO authentication failed');
    expect(await ask(socketPath, { login: 'nobody', password: 'demo', service: 'smtp', realm: 'example.org' })).toBe('NO authentication failed');
  });

  it('looks a realm-less login up unchanged', async () => {
    const { socketPath } = await startTestDaemon(USERS, { realmJoin: true });
    expect(await ask(socketPath, { login: 'bare', password: 'bare-password', realm: '' })).toBe('OK');
    expect(await ask(socketPath, { login: 'plain@example.org', password: 'plain-password', realm: '' })).toBe('OK');
  });

  it('without -r, does not join the realm', async () => {
    const { socketPath } = await startTestDaemon(USERS);
    expect(await ask(socketPath, { login: 'demo', password: 'demo', realm: 'example.org' })).toBe('NO authentication failed');
    expect(await ask(socketPath, { login: 'demo@example.org', password: 'demo', realm: 'example.org' })).toBe('OK');
  });

  it('fills in the default realm and lower-cases when configured', async () => {
    const { socketPath } = await startTestDaemon(USERS, { realmJoin: true, defaultRealm: 'example.org', lowercase: true });
    expect(await ask(socketPath, { login: 'DEMO', password: 'demo', realm: '' })).toBe('OK');
  });

  it.each([
    ['a user listed twice', 'twice', 'a', ErrorCodes.AMBIGUOUS_USER],
    ['an unsupported scheme', 'future', 'whatever', ErrorCodes.UNSUPPORTED_SCHEME],
  ])('answers %s, a problem of the file and not the user, with a temporary failure logged as an error', async (_name, login, password, code) => {
    const { socketPath, sink } = await startTestDaemon(USERS, { realmJoin: true });
    expect(await ask(socketPath, { login, password, realm: 'example.org' })).toBeUndefined();
    expect(sink.authEvents()).toEqual([expect.objectContaining({ result: 'temporary-failure', code, level: 50 })]);
  });

  it.each([
    ['an empty stored password', 'empty', 'x', ErrorCodes.EMPTY_STORED_PASSWORD],
    ['an unknown user', 'ghost', 'x', ErrorCodes.UNKNOWN_USER],
    ['a wrong password', 'demo', 'nope', ErrorCodes.WRONG_PASSWORD],
  ])('refuses %s with NO and logs why', async (_name, login, password, code) => {
    const { socketPath, sink } = await startTestDaemon(USERS, { realmJoin: true });
    expect(await ask(socketPath, { login, password, realm: 'example.org' })).toBe('NO authentication failed');
    expect(sink.authEvents()).toEqual([expect.objectContaining({ result: 'failure', code })]);
  });

  it('refuses a login with control characters, and logs it escaped on one line', async () => {
    const { socketPath, sink } = await startTestDaemon(USERS, { realmJoin: true });
    expect(await ask(socketPath, { login: 'demo\nauth success: [user=root]', password: 'demo', realm: 'example.org' })).toBe('NO authentication failed');
    const [event] = sink.authEvents();
    expect(event).toMatchObject({ result: 'failure', code: ErrorCodes.INVALID_LOGIN });
    expect(String(event?.msg)).not.toContain('\n');
    expect(String(event?.msg)).toContain('demo\\x0aauth');
  });
});

describe('the auth log line', () => {
  it("keeps saslauthd's shape and carries the facts as fields", async () => {
    const { socketPath, sink } = await startTestDaemon(USERS, { realmJoin: true });
    await ask(socketPath, { login: 'demo', password: 'demo', service: 'smtp', realm: 'example.org' });
    await ask(socketPath, { login: 'demo', password: 'bad', service: 'smtp', realm: 'example.org', clientAddress: '192.0.2.5;40000' });
    const [success, failure] = sink.authEvents();
    expect(success?.msg).toBe('auth success: [user=demo@example.org] [service=smtp] [realm=example.org] [mech=passwd-file]');
    expect(success).toMatchObject({ result: 'success', user: 'demo@example.org', service: 'smtp', realm: 'example.org', mech: 'passwd-file', scheme: 'MD5-CRYPT' });
    expect(failure?.msg).toBe('auth failure: [user=demo@example.org] [service=smtp] [realm=example.org] [remote=192.0.2.5;40000] [mech=passwd-file] [reason=wrong password]');
    expect(failure).toMatchObject({ result: 'failure', code: ErrorCodes.WRONG_PASSWORD, remote: '192.0.2.5;40000' });
  });

  it('writes exactly one line per authentication', async () => {
    const { socketPath, sink } = await startTestDaemon(USERS, { realmJoin: true });
    for (let i = 0; i < 5; i += 1) await ask(socketPath, { login: 'demo', password: i % 2 ? 'demo' : 'x', realm: 'example.org' });
    expect(sink.authEvents()).toHaveLength(5);
  });
});

describe('secrets', () => {
  it('never logs a password, at trace level, on any path', async () => {
    const { socketPath, sink, passwdFile } = await startTestDaemon([...USERS, 'leaky@example.org:{PLAIN}Stored-Secret-Value-1'], { realmJoin: true });
    const secret = 'Pa55-Unique-Marker-7f3a';
    const attempts = [
      requestFrame({ login: 'demo', password: secret, realm: 'example.org' }),
      requestFrame({ login: 'nobody', password: secret, realm: 'example.org' }),
      requestFrame({ login: 'leaky', password: secret, realm: 'example.org' }),
      requestFrame({ login: 'future', password: secret, realm: 'example.org' }),
      requestFrame({ login: 'twice', password: secret, realm: 'example.org' }),
      requestFrame({ login: 'ctl\u0001', password: secret, realm: 'example.org' }),
      requestFrame({ login: '', password: secret }),
      new FrameBuilder().field('demo').field(secret).field('smtp').declared(300, bytes(300)).build(),
      requestFrame({ login: 'demo', password: secret }).subarray(0, 12),
    ];
    for (const frame of attempts) await exchange(socketPath, frame, { endAfterSend: true });
    // A reload that hits a broken line must not echo it either.
    writeFileSync(passwdFile, `broken-line-with-${secret}\n`);
    await eventually(() => sink.raw.some((line) => line.includes('line 1')));
    const everything = sink.raw.join('');
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain('Stored-Secret-Value-1');
    expect(sink.raw.length).toBeGreaterThan(attempts.length);
  });
});

describe('passwd-file reload', () => {
  it('picks up a changed file without a restart, even when it is replaced by rename', async () => {
    const { socketPath, passwdFile, sink } = await startTestDaemon(['carol:{PLAIN}old-password']);
    expect(await ask(socketPath, { login: 'carol', password: 'old-password', realm: '' })).toBe('OK');
    const next = `${passwdFile}.new`;
    writeFileSync(next, 'carol:{PLAIN}new-password\n');
    renameSync(next, passwdFile);
    await eventually(async () => (await ask(socketPath, { login: 'carol', password: 'new-password', realm: '' })) === 'OK');
    expect(await ask(socketPath, { login: 'carol', password: 'old-password', realm: '' })).toBe('NO authentication failed');
    expect(sink.records().some((r) => r.msg === 'passwd-file reloaded')).toBe(true);
  });

  it('picks up a password changed in place with the file keeping its size (same inode, same length)', async () => {
    const { socketPath, passwdFile } = await startTestDaemon(['carol:{PLAIN}old-password']);
    expect(await ask(socketPath, { login: 'carol', password: 'old-password', realm: '' })).toBe('OK');
    const before = statSync(passwdFile);
    // The usual password change: the same line rewritten, one password for another of the same length.
    writeFileSync(passwdFile, readFileSync(passwdFile, 'utf8').replace('old-password', 'new-password'));
    expect([statSync(passwdFile).ino, statSync(passwdFile).size]).toEqual([before.ino, before.size]);
    await eventually(async () => (await ask(socketPath, { login: 'carol', password: 'new-password', realm: '' })) === 'OK');
    expect(await ask(socketPath, { login: 'carol', password: 'old-password', realm: '' })).toBe('NO authentication failed');
  });

  it('keeps the last good contents when the file disappears or turns unreadable', async () => {
    const { socketPath, passwdFile, sink } = await startTestDaemon(['carol:{PLAIN}kept']);
    rmSync(passwdFile);
    await eventually(() => sink.records().some((r) => r.code === ErrorCodes.PASSWD_FILE));
    expect(await ask(socketPath, { login: 'carol', password: 'kept', realm: '' })).toBe('OK');
    writeFileSync(passwdFile, Buffer.from([0x63, 0x3a, 0xff, 0xfe, 0x0a]));
    await eventually(() => sink.records().some((r) => String(r.reason).includes('not valid UTF-8')));
    expect(await ask(socketPath, { login: 'carol', password: 'kept', realm: '' })).toBe('OK');
  });
});

describe('the socket file', () => {
  it('sets the configured mode and group', async () => {
    const gid = process.getgid!();
    const { socketPath } = await startTestDaemon(USERS, { socketMode: '0660', socketGroup: String(gid) });
    const stats = statSync(socketPath);
    expect(stats.isSocket()).toBe(true);
    expect(stats.mode & 0o777).toBe(0o660);
    expect(stats.gid).toBe(gid);
  });

  it('creates a missing run directory', async () => {
    const { socketPath } = await startTestDaemon(USERS, { runDir: path.join(tempDir(), 'a', 'b') });
    expect(statSync(socketPath).isSocket()).toBe(true);
  });

  it('removes its socket on close, and closing twice is harmless', async () => {
    const { daemon, socketPath } = await startTestDaemon(USERS);
    await daemon.close();
    await daemon.close();
    expect(existsSync(socketPath)).toBe(false);
  });

  it('refuses to start while another daemon answers on the socket, leaving it untouched', async () => {
    const first = await startTestDaemon(USERS);
    const config = resolveDaemonConfig({ mech: 'passwd-file', passwdFile: first.passwdFile, runDir: path.dirname(first.socketPath) }, {});
    await expect(startDaemon(config, logSink().logger)).rejects.toBeInstanceOf(SocketInUseError);
    expect(await ask(first.socketPath, { login: 'bare', password: 'bare-password', realm: '' })).toBe('OK');
  });

  it('replaces a stale socket left by a crashed process', async () => {
    const runDir = path.join(tempDir(), 'run');
    const socketPath = path.join(runDir, 'mux');
    await leaveStaleSocket(socketPath);
    expect(statSync(socketPath).isSocket()).toBe(true);
    const { socketPath: started, sink } = await startTestDaemon(USERS, { runDir });
    expect(started).toBe(socketPath);
    expect(sink.records().some((r) => String(r.msg).includes('stale socket'))).toBe(true);
    expect(await ask(socketPath, { login: 'bare', password: 'bare-password', realm: '' })).toBe('OK');
  });

  it('refuses to replace a file that is not a socket', async () => {
    const runDir = tempDir();
    const socketPath = path.join(runDir, 'mux');
    writeFileSync(socketPath, 'precious');
    const error = await startTestDaemon(USERS, { runDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DaemonError);
    expect((error as DaemonError).code).toBe(ErrorCodes.SOCKET_PATH);
    expect(statSync(socketPath).isFile()).toBe(true);
  });

  it('fails before creating the socket when the passwd-file is missing', async () => {
    const dir = tempDir();
    const config = resolveDaemonConfig({ mech: 'passwd-file', passwdFile: path.join(dir, 'missing'), runDir: path.join(dir, 'run') }, {});
    const error = await startDaemon(config, logSink().logger).catch((e: unknown) => e);
    expect((error as DaemonError).code).toBe(ErrorCodes.PASSWD_FILE);
    expect(existsSync(config.socketPath)).toBe(false);
  });
});

/** A child process binds the socket and is killed with SIGKILL, so nothing cleans up after it. */
function leaveStaleSocket(socketPath: string): Promise<void> {
  const script = `const net=require('net');require('fs').mkdirSync(require('path').dirname(process.argv[1]),{recursive:true});net.createServer().listen(process.argv[1],()=>process.kill(process.pid,'SIGKILL'));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, socketPath], { stdio: 'ignore' });
    child.on('exit', () => resolve());
    child.on('error', reject);
  });
}
