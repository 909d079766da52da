/**
 * "saslauthd-mysql test" must print and exit exactly like testsaslauthd.
 * (test/e2e compares the two side by side against the same daemon.)
 */
import path from 'node:path';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli, spawnDaemon } from '../helpers/cli.js';
import { DEMO_HASH } from '../helpers/daemon.js';
import { tempDir } from '../helpers/temp.js';

async function demoDaemon() {
  const dir = tempDir();
  const file = path.join(dir, 'passwd');
  writeFileSync(file, `demo@example.org:${DEMO_HASH}\n`);
  const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', file, '-r', '-m', path.join(dir, 'run')]);
  return { daemon, socketPath: path.join(dir, 'run', 'mux') };
}

describe('saslauthd-mysql test', () => {
  it('prints testsaslauthd\'s lines and exit codes for OK and NO', async () => {
    const { daemon, socketPath } = await demoDaemon();
    const ok = await runCli(['test', '-f', socketPath, '-u', 'demo', '-r', 'example.org', '-p', 'demo', '-s', 'smtp']);
    expect(ok).toMatchObject({ code: 0, stdout: '0: OK "Success."\n', stderr: '' });
    const no = await runCli(['test', '-f', socketPath, '-u', 'demo', '-r', 'example.org', '-p', 'nope', '-s', 'smtp']);
    expect(no).toMatchObject({ code: 255, stdout: '0: NO "authentication failed"\n', stderr: '' });
    const repeated = await runCli(['test', '-f', socketPath, '-u', 'demo', '-r', 'example.org', '-p', 'demo', '-R', '3']);
    expect(repeated.stdout).toBe('0: OK "Success."\n1: OK "Success."\n2: OK "Success."\n');
    const shown = await runCli(['test', '-f', socketPath, '-u', 'demo', '-r', 'example.org', '-p', 'nope', '--show-reply']);
    expect(shown.stdout).toBe('0: NO "authentication failed"\n   reply: "NO authentication failed"\n');
    await daemon.stop();
  });

  it('reports a missing socket like testsaslauthd: "0: " on stdout, the error on stderr, exit 255', async () => {
    const result = await runCli(['test', '-f', path.join(tempDir(), 'mux'), '-u', 'a', '-p', 'b']);
    expect(result).toMatchObject({ code: 255, stdout: '0: ', stderr: 'connect() : No such file or directory\n' });
  });

  it('reports a daemon that closes without replying (temporary failure) as testsaslauthd does', async () => {
    const socketPath = path.join(tempDir(), 'mux');
    const server = net.createServer((socket) => socket.once('data', () => socket.destroy()));
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    const result = await runCli(['test', '-f', socketPath, '-u', 'a', '-p', 'b']);
    server.close();
    expect(result).toMatchObject({ code: 255, stdout: '0: ', stderr: 'size read failed\n' });
  });

  it('exits 1 on a usage error', async () => {
    const result = await runCli(['test', '-u', 'only-user']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("required option '-p <password>' not specified");
  });
});
