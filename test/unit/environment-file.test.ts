/**
 * The unit's EnvironmentFile= as systemd reads it, and the environment a
 * reload builds from it: edited lines laid over the start-up environment,
 * lines taken out named (only a restart can drop them).
 */
import { describe, expect, it } from 'vitest';
import { parseEnvironmentFile, reloadedEnvironment } from '../../src/config/environment-file.js';

describe('the environment file', () => {
  it('reads KEY=VALUE lines as systemd does: comments and blanks skipped, one layer of quotes removed', () => {
    const text = ['# a comment', '; another', '', 'SASLAUTHD_MYSQL_MECH=pam', 'SASLAUTHD_MYSQL_DEFAULT_REALM="example.org"', "SASLAUTHD_MYSQL_LOG_LEVEL='debug'", 'export UV_THREADPOOL_SIZE=8', '  SPACED = yes ', 'not a line'].join('\n');
    expect(parseEnvironmentFile(text)).toEqual({ SASLAUTHD_MYSQL_MECH: 'pam', SASLAUTHD_MYSQL_DEFAULT_REALM: 'example.org', SASLAUTHD_MYSQL_LOG_LEVEL: 'debug', UV_THREADPOOL_SIZE: '8', SPACED: 'yes' });
  });

  it('lays the lines of now over the start-up environment, and names the lines taken out', () => {
    const start = { PATH: '/usr/bin', SASLAUTHD_MYSQL_MECH: 'pam', SASLAUTHD_MYSQL_CACHE: 'yes' };
    const reloaded = reloadedEnvironment(start, { SASLAUTHD_MYSQL_CACHE: 'yes' }, { SASLAUTHD_MYSQL_LOG_SUCCESSES: 'yes' });
    expect(reloaded.env).toEqual({ PATH: '/usr/bin', SASLAUTHD_MYSQL_MECH: 'pam', SASLAUTHD_MYSQL_CACHE: 'yes', SASLAUTHD_MYSQL_LOG_SUCCESSES: 'yes' });
    expect(reloaded.removed).toEqual(['SASLAUTHD_MYSQL_CACHE']);
  });
});
