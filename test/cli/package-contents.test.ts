/**
 * What `npm pack` ships: the built daemon and what running it needs, nothing
 * of the benchmarks, load generators, test helpers or throwaway servers.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('npm pack', () => {
  const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' })) as Array<{ files: Array<{ path: string }> }>;
  const files = pack!.files.map((file) => file.path);

  it('ships the daemon', () => {
    for (const needed of ['dist/cli/main.js', 'dist/crypt/pool-worker.js', 'native/src/crypt_addon.c', 'native/binding.gyp', 'package.json', 'LICENSE', 'CHANGELOG.md', 'README.md']) expect(files).toContain(needed);
  });

  it('ships no benchmark, load generator, test code or throwaway server', () => {
    expect(files.filter((file) => /(^|\/)(bench|test)\/|mux-load|throwaway|load-generator|\.test\.|\.map$|^docker\//.test(file))).toEqual([]);
  });
});
