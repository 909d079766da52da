/**
 * saslauthd-mysql(8) is generated from the command tree and the configuration
 * reference (packaging/man-page.ts): it must render without a warning from
 * groff -ww, and name every option --help names, every variable and every
 * key of the -a mysql file.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KEYS } from '../../src/backends/mysql/native-config.js';
import { DAEMON_OPTIONS, ENV_PREFIX } from '../../src/config/options.js';
import { writeManPage } from '../../packaging/build-man.js';
import { CLI } from '../helpers/cli.js';
import { tempDir } from '../helpers/temp.js';

function render(page: string): { text: string; warnings: string; status: number | null } {
  const result = spawnSync('groff', ['-ww', '-man', '-Tutf8', '-P', '-cbou', page], { encoding: 'utf8' });
  return { text: result.stdout, warnings: result.stderr, status: result.status };
}

/** Written afresh in each test's own directory (removed after it). */
function generated(): string {
  return writeManPage(path.join(tempDir(), 'saslauthd-mysql.8'), '2026-12-03');
}

describe('saslauthd-mysql(8)', () => {
  it('renders with groff -ww and man -l without a warning', () => {
    const page = generated();
    const { warnings, status } = render(page);
    expect(status).toBe(0);
    expect(warnings).toBe('');
    const man = spawnSync('man', ['-l', page], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '100', MANPAGER: 'cat', PAGER: 'cat' } });
    expect(man.status).toBe(0);
    expect(man.stdout).toContain('SASLAUTHD-MYSQL(8)');
  });

  it('names every option --help names, with its variable, and every key of the -a mysql file', () => {
    const text = render(generated()).text.replace(/\u2010|\u2011/g, '-').replace(/-\n\s+/g, '-');
    for (const command of ['', 'test', 'check', 'config', 'hash']) {
      const help = spawnSync(process.execPath, [CLI, ...(command ? [command] : ['serve']), '--help'], { encoding: 'utf8' }).stdout;
      const flags = [...help.matchAll(/(?:^|\s)(--?[a-zA-Z][\w-]*)/gm)].map((match) => match[1]!).filter((flag) => flag !== '-h' && flag !== '--help');
      expect(flags.length).toBeGreaterThan(3);
      for (const flag of new Set(flags)) expect(text, `${flag} of "${command || 'serve'} --help"`).toContain(flag);
    }
    for (const spec of DAEMON_OPTIONS) if ('env' in spec) expect(text).toContain(`${ENV_PREFIX}${spec.env}`);
    for (const key of KEYS) expect(text, key).toContain(key);
  });
});
