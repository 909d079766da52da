/**
 * The floor (bare-server.ts) as plain JavaScript, so that it runs under
 * `node` alone: through tsx it would carry tsx's loader and esbuild's
 * service, which add memory (and a process) that a bare server does not
 * have. Compiled beside the C generator (build/bench) with TypeScript's own
 * transpiler; the file imports nothing but Node's modules.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SOURCE = fileURLToPath(new URL('./bare-server.ts', import.meta.url));
const OUTPUT = fileURLToPath(new URL('../build/bench/bare-server.mjs', import.meta.url));

/** Compile bare-server.ts and return the JavaScript file's path. */
export function buildBareServer(): string {
  const { outputText } = ts.transpileModule(readFileSync(SOURCE, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    fileName: SOURCE,
    reportDiagnostics: false,
  });
  mkdirSync(path.dirname(OUTPUT), { recursive: true });
  // Written under a private name and renamed: two benchmarks starting together never run a half-written file.
  const partial = `${OUTPUT}.${process.pid}`;
  writeFileSync(partial, outputText);
  renameSync(partial, OUTPUT);
  return OUTPUT;
}
