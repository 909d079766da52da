/**
 * The V8 flags the daemon is measured and shipped with: the installed
 * command's first line is the source, and every other way of starting the
 * daemon (the .deb's wrapper, the container, npm start, the floor benchmarks) must pass
 * exactly the same ones, or a benchmark or a package would run a different
 * daemon from the one documented.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
const flagsIn = (text: string) => text.match(/--(?:v8-pool-size|max-semi-space-size|heap-growing-percent|max-old-space-size|optimize-for-size)(?:=\d+)?/g) ?? [];

const shebang = read('src/cli/main.ts').split('\n')[0]!;
const shipped = flagsIn(shebang);

describe('V8 flags', () => {
  it('the command line sets them', () => {
    expect(shebang).toMatch(/^#!\/usr\/bin\/env -S node /);
    expect(shipped).toEqual(['--v8-pool-size=1', '--max-semi-space-size=1', '--heap-growing-percent=50']);
  });

  it.each([
    ['the packages\' wrapper (.deb and .rpm)', 'packaging/saslauthd-mysql.sh', (text: string) => text.split('\n').find((line) => line.startsWith('exec '))!],
    ['the container entry point', 'docker/Dockerfile', (text: string) => text.split('\n').find((line) => line.startsWith('ENTRYPOINT'))!],
    ['the benchmarks (their daemons and floors)', 'bench/gc-tally.ts', (text: string) => text.split('\n').find((line) => line.startsWith('export const INSTALLED_V8_FLAGS'))!],
    ['npm start (the README\'s first command)', 'package.json', (text: string) => (JSON.parse(text) as { scripts: { start: string } }).scripts.start],
  ])('%s passes the same', (_name, file, pick) => {
    expect(flagsIn(pick(read(file)))).toEqual(shipped);
  });
});
