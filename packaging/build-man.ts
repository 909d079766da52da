/**
 * npm run man: writes build/saslauthd-mysql.8 (packaging/man-page.ts) and
 * prints its path. The Debian package builder calls it.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildProgram } from '../src/cli/program.js';
import { VERSION } from '../src/common/version.js';
import { renderManPage } from './man-page.js';

export function writeManPage(target = fileURLToPath(new URL('../build/saslauthd-mysql.8', import.meta.url)), date = new Date().toISOString().slice(0, 10)): string {
  const page = renderManPage({ program: buildProgram(), version: VERSION, date, configurationReference: readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8') });
  mkdirSync(fileURLToPath(new URL('.', `file://${target}`)), { recursive: true });
  writeFileSync(target, page);
  return target;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(writeManPage());
