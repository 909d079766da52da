import { describe, expect, it } from 'vitest';
import { parsePasswdFile } from '../../src/backends/passwd-file-format.js';

describe('parsePasswdFile', () => {
  it('reads user:password and ignores the further fields, comments and blank lines', () => {
    const parsed = parsePasswdFile(
      ['# comment', '', '   # indented comment', 'alice@example.org:{PLAIN}pw:1000:1000::/home/alice::userdb_quota=1G', 'bob:$1$s$vwQ9VEe9kVT0avBPX1DVM/', 'carol:{PLAIN}x\r', ''].join('\n'),
    );
    expect(Object.fromEntries(parsed.entries.passwords)).toEqual({
      'alice@example.org': '{PLAIN}pw',
      bob: '$1$s$vwQ9VEe9kVT0avBPX1DVM/',
      carol: '{PLAIN}x',
    });
    expect(parsed.problems).toEqual([]);
  });

  it('keeps an empty password field as empty (the backend refuses it)', () => {
    expect(parsePasswdFile('dave:').entries.passwords.get('dave')).toBe('');
    expect(parsePasswdFile('dave::1000').entries.passwords.get('dave')).toBe('');
  });

  it('refuses users listed more than once, however many times', () => {
    const parsed = parsePasswdFile('eve:{PLAIN}a\neve:{PLAIN}b\neve:{PLAIN}c\nfrank:{PLAIN}f');
    expect(parsed.entries.passwords.has('eve')).toBe(false);
    expect(parsed.entries.duplicates.has('eve')).toBe(true);
    expect(parsed.entries.passwords.get('frank')).toBe('{PLAIN}f');
    expect(parsed.problems).toEqual([{ line: 2, problem: expect.stringContaining('more than once') }]);
  });

  it('reports broken lines by number only, never by content', () => {
    const parsed = parsePasswdFile('no-colon-here-secretpassword\n:{PLAIN}nouser\nok:{PLAIN}fine');
    expect(parsed.problems.map((p) => p.line)).toEqual([1, 2]);
    expect(JSON.stringify(parsed.problems)).not.toContain('secretpassword');
    expect(JSON.stringify(parsed.problems)).not.toContain('nouser');
    expect(parsed.entries.passwords.get('ok')).toBe('{PLAIN}fine');
  });
});
