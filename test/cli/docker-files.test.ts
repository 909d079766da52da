/**
 * The container files cannot be built here (no Docker engine), so what can be
 * checked without one is checked: every variable they set is one the daemon
 * knows (an unknown one stops it at start), the entrypoint exists in the
 * build, and the demo row's hash is the demo password.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { knownVariableNames } from '../../src/config/daemon-config.js';
import { verifyOnThisThread } from '../../src/crypt/verifier.js';
import { PROJECT_ROOT } from '../helpers/cli.js';

const read = (name: string) => readFileSync(path.join(PROJECT_ROOT, 'docker', name), 'utf8');
const KNOWN = knownVariableNames();

describe('docker files', () => {
  it('set only variables the daemon knows', () => {
    const names = [...`${read('Dockerfile')}\n${read('compose.yaml')}`.matchAll(/\b(SASLAUTHD_MYSQL_[A-Z_]*[A-Z])\b/g)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(8);
    expect(names.filter((name) => !KNOWN.has(name))).toEqual([]);
  });

  it('run the entrypoint the build produces', () => {
    const entrypoint = /^ENTRYPOINT \[.*"\/app\/(dist\/cli\/main\.js)"\]$/m.exec(read('Dockerfile'));
    expect(entrypoint).not.toBeNull();
    expect(existsSync(path.join(PROJECT_ROOT, entrypoint![1]!))).toBe(true);
  });

  it('seed a demo mailbox whose password really is "demo"', async () => {
    const hash = /'demo@example\.org', '([^']+)'/.exec(read('initdb/01-mailbox.sql'))?.[1];
    expect(hash).toBeDefined();
    expect(await verifyOnThisThread(Buffer.from('demo'), hash!, 'crypt')).toBe(true);
  });
});
