import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';

const made: string[] = [];

/** A fresh directory under /tmp, removed after the test. Short, because socket paths are limited to 108 bytes. */
export function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sm-'));
  made.push(dir);
  return dir;
}

afterEach(() => {
  while (made.length > 0) rmSync(made.pop()!, { recursive: true, force: true });
});

/** A directory that outlives single tests (for a daemon shared by a describe block); the caller removes it. */
export function suiteTempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sm-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
