import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterThisTest } from './cleanup.js';

/** A fresh directory under /tmp, removed after the test. Short, because socket paths are limited to 108 bytes. */
export function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sm-'));
  afterThisTest(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A directory that outlives single tests (for a daemon shared by a describe block); the caller removes it. */
export function suiteTempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sm-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
