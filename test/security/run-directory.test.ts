/**
 * Attack: whoever can write the socket's directory can swap in a socket of
 * their own and read every password the MTA sends. The real process must
 * refuse such a directory, make its own private, and say when it runs as root.
 */
import { chmodSync, chownSync, mkdirSync, statSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, spawnDaemon } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

const PASSWD = ['-a', 'passwd-file', '-O', 'demo/passwd'];

describe('the socket directory', () => {
  it.each([
    ['writable by every user, sticky or not', (dir: string) => chmodSync(dir, 0o1777), /writable by every user \(mode 01777\)/],
    ['writable by its group', (dir: string) => chmodSync(dir, 0o770), /writable by its group \(mode 0770\)/],
    ['owned by another user', (dir: string) => chownSync(dir, 65534, 65534), /belongs to user 65534, who could replace the socket/],
  ])('refuses one %s, naming it and the fix', async (_name, spoil, message) => {
    const runDir = path.join(tempDir(), 'run');
    mkdirSync(runDir, { mode: 0o755 });
    spoil(runDir);
    const result = await runCli([...PASSWD, '-m', runDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
  });

  it('refuses a symbolic link in place of the directory', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'elsewhere'), { mode: 0o755 });
    symlinkSync(path.join(dir, 'elsewhere'), path.join(dir, 'run'));
    const result = await runCli([...PASSWD, '-m', path.join(dir, 'run')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/is a symbolic link/);
  });

  it('creates its own directory 0750, or 0710 with the socket group, and sets the socket mode; warns when run as root', async () => {
    const dir = tempDir();
    const plain = await spawnDaemon([...PASSWD, '-m', path.join(dir, 'a', 'run')]);
    expect(statSync(path.join(dir, 'a', 'run')).mode & 0o7777).toBe(0o750);
    expect(statSync(path.join(dir, 'a')).mode & 0o7777).toBe(0o755);
    await plain.stop();
    const gid = 65534;
    const grouped = await spawnDaemon([...PASSWD, '-m', path.join(dir, 'b'), '--socket-group', String(gid), '--socket-mode', '0660']);
    const made = statSync(path.join(dir, 'b'));
    expect([made.mode & 0o7777, made.gid]).toEqual([0o710, gid]);
    const socket = statSync(path.join(dir, 'b', 'mux'));
    expect([socket.mode & 0o777, socket.gid]).toEqual([0o660, gid]);
    await grouped.stop();
    if (process.geteuid?.() === 0) expect(grouped.records().some((record) => String(record.msg).startsWith('running as root'))).toBe(true);
  });
});
