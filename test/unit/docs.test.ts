/** The reference docs must name every option, variable, config key and error code the daemon has. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KEYS } from '../../src/backends/mysql/native-config.js';
import { DAEMON_OPTIONS, ENV_NAMES, ENV_PREFIX, everyOption } from '../../src/config/options.js';
import { knownVariableNames, resolveDaemonConfig } from '../../src/config/daemon-config.js';
import { ERROR_CATEGORIES, type ErrorCode } from '../../src/errors.js';

const reference = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

describe('docs/configuration.md', () => {
  it('lists every SASLAUTHD_MYSQL_ variable', () => {
    expect(ENV_NAMES.map((name) => ENV_PREFIX + name).filter((name) => !new RegExp(`\\b${name}\\b`).test(reference))).toEqual([]);
  });

  it('lists every command-line option of the daemon', () => {
    const longFlags = DAEMON_OPTIONS.map(({ flags }) => /--[a-z0-9-]+/.exec(flags)![0]);
    expect(longFlags.filter((flag) => !reference.includes(flag))).toEqual([]);
  });

  it('names exactly the options a reload cannot apply, as their rows say', () => {
    const paragraph = reference.slice(reference.indexOf('- Settings read only at start-up need a restart.'), reference.indexOf('takes effect at the reload.'));
    const named = [...paragraph.matchAll(/`(--[a-z0-9-]+)`/g)].map((match) => match[1]);
    expect(named.sort()).toEqual(everyOption().filter((option) => option.applies === 'restart').map((option) => option.longFlag).sort());
  });

  it('lists every key of the mysql configuration file', () => {
    expect(KEYS.filter((key) => !reference.includes(`\`${key}\``))).toEqual([]);
  });
});

describe('docs/errors.md', () => {
  const table = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Map([...table.matchAll(/^\| `(ERR_[A-Z_]+)` \| ([a-z-]+) \| (.+) \|$/gm)].map((row) => [row[1], { category: row[2], meaning: row[3]!.trim() }]));

  it('has one row per error code, in the category the code has', () => {
    expect([...ERROR_CATEGORIES].filter(([code, category]) => documented.get(code)?.category !== category)).toEqual([]);
  });

  it('documents no code the daemon does not have, and gives each a meaning', () => {
    expect([...documented.keys()].filter((code) => !ERROR_CATEGORIES.has(code as ErrorCode))).toEqual([]);
    expect([...documented].filter(([, row]) => row.meaning.length < 20).map(([code]) => code)).toEqual([]);
  });
});

describe('docs/troubleshooting.md', () => {
  const troubleshooting = readFileSync(new URL('../../docs/troubleshooting.md', import.meta.url), 'utf8');
  const sources = ['src/cli/check.ts', 'src/cli/node-version.ts', 'src/backends/pam/pam-backend.ts', 'src/backends/pam/pam-file.ts', 'src/backends/mysql/hosts.ts', 'src/protocol/socket-file.ts', 'src/protocol/listener.ts', 'src/config/parse.ts', 'native/build.mjs']
    .map((file) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8'))
    .join('\n');

  // Messages an administrator searches the page for: each must read there as the daemon writes it.
  it.each([
    'PAM service not usable: its logins get a temporary failure (Postfix: 454) until the file is fixed',
    'Linux-PAM would fail every login through this file',
    'no PAM file for this service: its logins are refused, as Linux-PAM',
    'database host failed; the only host configured: logins get a temporary failure until it answers',
    'database host failed; trying the next one',
    'warning(s): the daemon would start, but fix what they say first',
    'may not write',
    'needs Node.js',
    'expected 1, yes, on or true, or 0, no, off or false',
    'native addon NOT built: md5crypt, DES and sha-crypt will run in JavaScript',
    'answers are already held for throttled users and addresses; further throttled requests get a temporary failure',
  ])('quotes "%s" as the code writes it', (message) => {
    expect(sources).toContain(message);
    expect(troubleshooting).toContain(message);
  });
});

describe('the docs agree with the shipped files', () => {
  it('the example -a mysql configuration lives where the defaults file points', () => {
    const defaults = readFileSync(new URL('../../systemd/saslauthd-mysql.default', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../../docs/examples/saslauthd-mysql.conf', import.meta.url), 'utf8');
    const pointed = /^#?SASLAUTHD_MYSQL_DB_CONFIG=(\S+)$/m.exec(defaults)?.[1];
    expect(pointed).toBeDefined();
    expect(example.split('\n')[0]).toBe(`# ${pointed}: -a mysql for a PostfixAdmin database.`);
    expect(reference).toContain(pointed);
  });
});

describe('docs/deployment.md, several mail hosts', () => {
  const deployment = readFileSync(new URL('../../docs/deployment.md', import.meta.url), 'utf8');
  const section = deployment.slice(deployment.indexOf('## Several mail hosts'));

  it('sets only variables the daemon knows, to values it takes', () => {
    const assignments = [...section.matchAll(/^(SASLAUTHD_MYSQL_[A-Z_]+)=(\S+)$/gm)];
    expect(assignments.length).toBeGreaterThan(0);
    const known = knownVariableNames();
    for (const [, name] of assignments) expect(known.has(name!)).toBe(true);
    const store = assignments.find(([, name]) => name === 'SASLAUTHD_MYSQL_THROTTLE_STORE')![2]!;
    expect(resolveDaemonConfig({ mech: 'passwd-file', passwdFile: 'demo/passwd' }, { SASLAUTHD_MYSQL_THROTTLE_STORE: store }, '/srv').throttleStore?.url).toBe(store);
  });

  it('uses only keys the -a mysql file has', () => {
    const block = /# \/etc\/saslauthd-mysql\/mysql\.conf on mail host 2\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBeDefined();
    for (const line of block!.trim().split('\n')) expect(KEYS).toContain(line.split('=')[0]!.trim());
  });
});
