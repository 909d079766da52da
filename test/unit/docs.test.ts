/** The configuration reference must name every variable and config key the daemon reads. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KEYS } from '../../src/backends/mysql/native-config.js';
import { ENV_NAMES, ENV_PREFIX } from '../../src/config/daemon-config.js';

const reference = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

describe('docs/configuration.md', () => {
  it('lists every SASLAUTHD_MYSQL_ variable', () => {
    expect(ENV_NAMES.map((name) => ENV_PREFIX + name).filter((name) => !new RegExp(`\\b${name}\\b`).test(reference))).toEqual([]);
  });

  it('lists every key of the mysql configuration file', () => {
    expect(KEYS.filter((key) => !reference.includes(`\`${key}\``))).toEqual([]);
  });
});
