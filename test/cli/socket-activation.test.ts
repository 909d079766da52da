/**
 * Socket activation as systemd does it, with systemd's own tool:
 * systemd-socket-activate binds the socket, waits for the first connection,
 * then execs the daemon with the listener as fd 3 (LISTEN_FDS, LISTEN_PID).
 * The first login must be answered, and the socket must outlive the daemon.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { takeInheritedListeners } from '../../src/protocol/socket-activation.js';
import { CLI, PROJECT_ROOT, run } from '../helpers/cli.js';
import { DEMO_HASH, eventually } from '../helpers/daemon.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { tempDir } from '../helpers/temp.js';
import { dovecotPlainLogin } from '../helpers/dovecot-client.js';

const ACTIVATE = '/usr/bin/systemd-socket-activate';

/**
 * Until systemd-socket-activate listens: it makes the socket file at bind(), a moment before
 * listen(), and a connection in between is refused. Connecting then is what starts the daemon.
 */
async function listening(socketPath: string): Promise<void> {
  await eventually(
    () =>
      new Promise<boolean>((resolve) => {
        const probe = net.connect({ path: socketPath });
        probe.once('connect', () => {
          probe.destroy();
          resolve(true);
        });
        probe.once('error', () => resolve(false));
      }),
    10_000,
    20,
  );
}

describe('systemd socket activation', () => {
  it('answers on the inherited socket, from the very first connection, and leaves the socket to systemd', async () => {
    if (!existsSync(ACTIVATE)) throw new Error(`${ACTIVATE} is missing: apt-get install -y systemd`);
    const dir = tempDir();
    const passwd = path.join(dir, 'passwd');
    writeFileSync(passwd, `demo@example.org:${DEMO_HASH}\n`);
    const socketPath = path.join(dir, 'mux');
    const child = spawn(ACTIVATE, ['-l', socketPath, process.execPath, CLI, '-a', 'passwd-file', '-O', passwd, '-r', '-m', dir], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await listening(socketPath);
      // The probe above started the daemon; this login may still wait in the backlog while it starts.
      const first = await exchange(socketPath, requestFrame({ login: 'demo', password: 'demo', service: 'smtp', realm: 'example.org' }), { timeoutMs: 15_000 });
      expect(first.reply, output).toBe('OK');
      const wrong = await exchange(socketPath, requestFrame({ login: 'demo', password: 'nope', service: 'smtp', realm: 'example.org' }));
      expect(wrong.reply).toMatch(/^NO/);
      expect(output).toMatch(/"socket":"fd 3 from systemd"/);
      // A UNIX stream socket from systemd is served by the native listener too.
      expect(output).toMatch(/"socketEngine":"native"/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, output).toBe(0);
    // systemd keeps listening while a unit restarts: the daemon must not remove what it did not create.
    expect(existsSync(socketPath)).toBe(true);
  }, 30_000);
});

describe('systemd socket activation at another path than the settings say', () => {
  it('refuses to serve, naming both paths and how to make them agree (a .socket unit cannot read /etc/default)', async () => {
    const dir = tempDir();
    const socketPath = path.join(dir, 'mux');
    const configured = path.join(dir, 'elsewhere');
    const child = spawn(ACTIVATE, ['-l', socketPath, process.execPath, CLI, '-a', 'passwd-file', '-O', 'demo/passwd', '-m', configured], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await listening(socketPath);
      expect(await exited, output).toBe(1);
    } finally {
      child.kill('SIGKILL');
    }
    expect(output).toContain(`systemd passed the socket ${socketPath}, but --run-dir (SASLAUTHD_MYSQL_RUN_DIR) puts it at ${configured}/mux: make them agree, either ListenStream=${configured}/mux in saslauthd-mysql.socket`);
    expect(existsSync(path.join(configured, 'mux'))).toBe(false);
  }, 30_000);
});

describe('systemd socket activation with both sockets', () => {
  it("serves the mux socket and the Dovecot protocol's, both passed by systemd, named as the .socket units name them", async () => {
    const dir = tempDir();
    const passwd = path.join(dir, 'passwd');
    writeFileSync(passwd, `demo@example.org:${DEMO_HASH}\n`);
    const mux = path.join(dir, 'mux');
    const auth = path.join(dir, 'auth');
    const child = spawn(ACTIVATE, ['-l', auth, '-l', mux, '--fdname=dovecot:mux', process.execPath, CLI, '-a', 'passwd-file', '-O', passwd, '-r', '-m', dir, '--dovecot-socket', auth], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await listening(mux);
      await listening(auth);
      expect((await exchange(mux, requestFrame({ login: 'demo', password: 'demo', service: 'smtp', realm: 'example.org' }), { timeoutMs: 15_000 })).reply, output).toBe('OK');
      const answer = await dovecotPlainLogin({ path: auth }, 'demo@example.org', 'demo');
      expect(answer).toMatch(/\nOK\t1\tuser=demo@example\.org\n/);
      expect(output).toMatch(/"socket":"fd 4 from systemd \(mux\)"/);
      expect(output).toMatch(/"dovecotSocket":"fd 3 from systemd \(dovecot\)"/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, output).toBe(0);
  }, 30_000);
});

describe('takeInheritedListeners', () => {
  it('ignores variables meant for another process, and removes them either way', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '1', LISTEN_FDS: '1', LISTEN_FDNAMES: 'mux' };
    expect(takeInheritedListeners(env, 4242)).toEqual({});
    expect(env).toEqual({});
  });

  it('without the variables there is nothing inherited', () => {
    expect(takeInheritedListeners({}, 4242)).toEqual({});
  });

  it('refuses more than two sockets, naming what it takes', () => {
    expect(() => takeInheritedListeners({ LISTEN_PID: '4242', LISTEN_FDS: '3' }, 4242)).toThrow(/at most two: the mux socket and the Dovecot protocol's \(FileDescriptorName=dovecot\)/);
  });

  it('refuses a descriptor 3 that is not a socket, and says so', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'not-a-socket');
    writeFileSync(file, '');
    // exec keeps the shell's pid, so LISTEN_PID=$$ names the daemon; fd 3 is a plain file.
    const result = await run('/bin/sh', ['-c', `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$1" -a passwd-file -O demo/passwd -m "$2" 3<"$3"`, process.execPath, CLI, dir, file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/LISTEN_FDS=1 but fd 3 is not a socket/);
  });
});
