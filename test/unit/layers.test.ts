/**
 * Dependencies point one way: every import inside src/ goes to a folder the
 * table in docs/architecture.md allows. The table is the documentation and the
 * rule at once, so neither can drift from the code.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const doc = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');

/** A file's layer: its top folder, or "(top)" for files directly in src/. */
function layerOf(file: string): string {
  const relative = path.relative(SRC, file);
  return relative.includes(path.sep) ? `${relative.split(path.sep)[0]}/` : '(top)';
}

/** Neutral modules anyone may import. */
const NEUTRAL = new Set(['errors.ts', 'common/']);

function allowedImports(): Map<string, Set<string> | 'everything-above'> {
  const rows = [...doc.matchAll(/^\| (`[a-z]+\/`|\(top\)[^|]*) \| [^|]+ \| ([^|]+) \|$/gm)];
  const allowed = new Map<string, Set<string> | 'everything-above'>();
  for (const [, folder, may] of rows) {
    const name = folder!.startsWith('(top)') ? '(top)' : folder!.replaceAll('`', '');
    allowed.set(name, /every folder above/.test(may!) ? 'everything-above' : new Set([...may!.matchAll(/`([a-z]+\/)`/g)].map((m) => m[1]!)));
  }
  return allowed;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('docs/architecture.md folder table', () => {
  const allowed = allowedImports();
  const order = [...allowed.keys()];

  it('names every folder of src/', () => {
    const folders = new Set(sourceFiles(SRC).map(layerOf).filter((layer) => layer !== '(top)' && !NEUTRAL.has(layer)));
    expect([...folders].filter((folder) => !allowed.has(folder))).toEqual([]);
  });

  it('allows every import in src/', () => {
    const violations: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const from = layerOf(file);
      if (NEUTRAL.has(from)) continue;
      for (const [, target] of readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^'"]*from '(\.[^']+)'/gm)) {
        const to = layerOf(path.resolve(path.dirname(file), target!.replace(/\.js$/, '.ts')));
        const toFile = path.relative(SRC, path.resolve(path.dirname(file), target!));
        if (to === from || NEUTRAL.has(to) || NEUTRAL.has(toFile.replace(/\.js$/, '.ts'))) continue;
        const rule = allowed.get(from);
        const ok = rule === 'everything-above' ? order.indexOf(to) < order.indexOf(from) && to !== 'cli/' : rule?.has(to);
        if (!ok) violations.push(`${path.relative(SRC, file)} imports ${target} (${to})`);
      }
    }
    expect(violations).toEqual([]);
  });
});
