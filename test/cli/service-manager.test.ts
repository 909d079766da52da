/**
 * systemd's readiness protocol (sd_notify) as the daemon speaks it, read by
 * a datagram socket of the test's own (python3: Node cannot receive one
 * either): READY=1 with MAINPID once it listens, RELOADING=1 and READY=1
 * around a SIGHUP, STOPPING=1 at SIGTERM; on a path and in the abstract
 * namespace ("@name", as systemd passes it). Without $NOTIFY_SOCKET nothing
 * is sent. The unit's Type=notify under a real systemd is in
 * test/systemd/installed-package.test.ts.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { afterThisTest } from '../helpers/cleanup.js';
import { spawnDaemon } from '../helpers/cli.js';
import { DEMO_HASH, eventually } from '../helpers/daemon.js';
import { tempDir } from '../helpers/temp.js';

/** Binds a datagram socket at `address` and prints each message received as a JSON string, one per line. */
const RECEIVER = `
import json, socket, sys
address = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\\0" + address[1:] if address.startswith("@") else address)
print("bound", flush=True)
while True:
    print(json.dumps(s.recv(4096).decode()), flush=True)
`;

function receiver(address: string): { readonly messages: string[]; ready: Promise<void> } {
  const child = spawn('python3', ['-c', RECEIVER, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  afterThisTest(() => child.kill());
  const messages: string[] = [];
  let buffered = '';
  let bound: () => void;
  const ready = new Promise<void>((resolve) => (bound = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line === 'bound') bound();
      else messages.push(JSON.parse(line) as string);
    }
  });
  return { messages, ready };
}

function passwdFile(): string {
  const file = path.join(tempDir(), 'passwd');
  writeFileSync(file, `demo:${DEMO_HASH}\n`);
  return file;
}

describe('telling systemd how the service stands (Type=notify)', () => {
  for (const where of ['a socket file', 'the abstract namespace'] as const) {
    it(`says ready once it listens, reloading and ready around a reload, stopping at shutdown: ${where}`, async () => {
      const address = where === 'a socket file' ? path.join(tempDir(), 'notify') : `@saslauthd-mysql-test-${randomBytes(6).toString('hex')}`;
      const manager = receiver(address);
      await manager.ready;
      const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwdFile(), '-m', path.join(tempDir(), 'run')], { env: { ...process.env, NOTIFY_SOCKET: address } });
      await eventually(() => manager.messages.length >= 1, 5000);
      expect(manager.messages[0]).toMatch(new RegExp(`^READY=1\\nMAINPID=${daemon.child.pid}\\nSTATUS=serving, version \\S+\\n$`));

      daemon.child.kill('SIGHUP');
      await eventually(() => manager.messages.length >= 3, 5000);
      expect(manager.messages[1]).toMatch(/^RELOADING=1\nMONOTONIC_USEC=\d+\n$/);
      expect(manager.messages[2]).toMatch(/^READY=1\n/);

      expect((await daemon.stop()).code).toBe(0);
      await eventually(() => manager.messages.length >= 4, 5000);
      expect(manager.messages[3]).toBe('STOPPING=1\n');
      expect(daemon.output()).not.toContain('ERR_SERVICE_MANAGER');
    });
  }

  it('says why, with a code, when systemd asked and cannot be told, and keeps serving', async () => {
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwdFile(), '-m', path.join(tempDir(), 'run')], { env: { ...process.env, NOTIFY_SOCKET: path.join(tempDir(), 'nobody-listens') } });
    await eventually(() => daemon.output().includes('ERR_SERVICE_MANAGER'), 5000);
    expect(daemon.records().find((record) => record.code === 'ERR_SERVICE_MANAGER')).toMatchObject({ state: 'ready', reason: expect.stringMatching(/sendto: (No such file or directory|Connection refused)/) as unknown });
    expect((await daemon.stop()).code).toBe(0);
  });

  it('says nothing of it when systemd did not ask', async () => {
    const env = { ...process.env };
    delete env.NOTIFY_SOCKET;
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwdFile(), '-m', path.join(tempDir(), 'run')], { env });
    expect((await daemon.stop()).code).toBe(0);
    expect(daemon.output()).not.toContain('ERR_SERVICE_MANAGER');
  });
});
