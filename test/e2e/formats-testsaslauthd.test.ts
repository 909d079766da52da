/**
 * Every stored format, end to end: each self-describing vector from
 * test/vectors/hashes.tsv (made by independent implementations) becomes a
 * passwd-file user, and the real testsaslauthd must get OK for its password
 * and NO for a wrong one.
 */
import { writeFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTestsaslauthd, run, spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { suiteTempDir } from '../helpers/temp.js';
import { hashVectors } from '../helpers/vectors.js';

const rows = hashVectors()
  // Values that name their scheme (no default needed) and passwords testsaslauthd can take as an argument.
  .filter(({ defaultName, password }) => defaultName === '-' && isUtf8(password))
  .map(({ maker, label, password, stored }, index) => ({ user: `v${index}@example.org`, maker, label, password: password.toString('utf8'), stored }));

let daemon: DaemonProcess;
let testsaslauthd: string;
let socketPath: string;
let cleanup: () => void;

beforeAll(async () => {
  testsaslauthd = findTestsaslauthd();
  const { dir, remove } = suiteTempDir();
  cleanup = remove;
  const file = path.join(dir, 'passwd');
  writeFileSync(file, rows.map((row) => `${row.user}:${row.stored}`).join('\n') + '\n');
  daemon = await spawnDaemon(['-a', 'passwd-file', '-O', file, '-r', '-m', path.join(dir, 'run')], { forSuite: true });
  socketPath = path.join(dir, 'run', 'mux');
});

afterAll(async () => {
  await daemon?.stop();
  cleanup?.();
});

/** A password that differs in its first character (DES reads only 8 bytes, bcrypt 72). */
function otherThan(password: string): string {
  return (password.startsWith('X') ? 'Y' : 'X') + password.slice(1);
}

describe('every self-describing format through real testsaslauthd', () => {
  it('has the formats to test', () => {
    expect(rows.length).toBeGreaterThan(80);
  });

  it('runs md5crypt and DES on libxcrypt and serves its socket on the native listener (the addons), as an installed daemon would', () => {
    expect(daemon.records().find((record) => record.msg === 'listening')).toMatchObject({ crypt: 'native', socketEngine: 'native' });
  });

  for (const row of rows) {
    it(`${row.maker} ${row.label}: OK for the password, NO for another`, async () => {
      const [login] = row.user.split('@');
      const right = await run(testsaslauthd, ['-f', socketPath, '-u', login!, '-r', 'example.org', '-p', row.password, '-s', 'smtp']);
      expect(right.stdout).toBe('0: OK "Success."\n');
      const wrong = await run(testsaslauthd, ['-f', socketPath, '-u', login!, '-r', 'example.org', '-p', otherThan(row.password), '-s', 'smtp']);
      expect(wrong.stdout).toBe('0: NO "authentication failed"\n');
    });
  }
});
