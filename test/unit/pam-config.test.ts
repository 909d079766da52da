import { describe, expect, it } from 'vitest';
import { couldDeny, couldGrant, findPamMysqlLines, tokenize } from '../../src/backends/pam/pam-file.js';
import { pamMysqlSettings, parseConfigFile } from '../../src/backends/pam/pam-mysql-options.js';
import { CONNECTION_DEFAULTS } from '../../src/backends/mysql/native-config.js';

const tuning = { ...CONNECTION_DEFAULTS };
/** The classic pam_mysql line (README.md), as the 2006 guide has it. */
const CLASSIC =
  'auth    required   pam_mysql.so user=database passwd=password host=127.0.0.1 db=postfix table=mailbox usercolumn=username passwdcolumn=password crypt=1 md5=1\n' +
  'account sufficient pam_mysql.so user=database passwd=password host=127.0.0.1 db=postfix table=mailbox usercolumn=username passwdcolumn=password crypt=1 md5=1\n';

function files(map: Record<string, string>) {
  return (file: string) => {
    if (!(file in map)) throw Object.assign(new Error(`ENOENT: ${file}`), { code: 'ENOENT', path: file });
    return map[file]!;
  };
}

describe('PAM service files', () => {
  it('tokenizes [bracketed] arguments with spaces, and escaped brackets', () => {
    expect(tokenize('auth [success=1 default=ignore] pam_mysql.so [where=active = 1 AND x\\]y] db=p')).toEqual(['auth', 'success=1 default=ignore', 'pam_mysql.so', 'where=active = 1 AND x]y', 'db=p']);
  });

  it('finds the auth and account pam_mysql lines', () => {
    const lines = findPamMysqlLines('/etc/pam.d/smtp', files({ '/etc/pam.d/smtp': CLASSIC }));
    expect(lines.auth?.args).toContain('table=mailbox');
    expect(lines.auth?.origin).toBe('/etc/pam.d/smtp:1');
    expect(lines.account?.origin).toBe('/etc/pam.d/smtp:2');
  });

  it('follows @include and include, skips comments, joins continuation lines, accepts -auth', () => {
    const read = files({
      '/etc/pam.d/smtp': '# mail\n@include common-mail\naccount include other-account\n',
      '/etc/pam.d/common-mail': 'auth required pam_env.so\n-auth required /lib/security/pam_mysql.so db=postfix \\\n  table=mailbox # trailing comment\n',
      '/etc/pam.d/other-account': 'account required pam_mysql.so statcolumn=status\n',
    });
    const lines = findPamMysqlLines('/etc/pam.d/smtp', read);
    expect(lines.auth?.args).toEqual(['db=postfix', 'table=mailbox']);
    expect(lines.account?.args).toEqual(['statcolumn=status']);
  });

  it.each([
    ['a misspelt control', 'auth requird pam_mysql.so db=p\n', /smtp:1: "requird" is not a PAM control/],
    ['an unknown module type', 'auht required pam_mysql.so db=p\n', /smtp:1: "auht" is not a PAM module type/],
    ['an unclosed bracket', 'auth [success=ok default=bad pam_mysql.so db=p\n', /smtp:1: a "\[" is never closed/],
    ['an unknown return value', 'auth [sucess=ok default=bad] pam_mysql.so db=p\n', /"sucess" in \[\.\.\.\] is not a PAM return value/],
    ['an unknown action', 'auth [success=okay default=bad] pam_mysql.so db=p\n', /"okay" in \[\.\.\.\] is not a PAM action/],
    ['a pair without "="', 'auth [success default=bad] pam_mysql.so db=p\n', /"success" in \[\.\.\.\] is not value=action/],
    ['a line with no module', 'account required\n', /smtp:1: no module/],
    ['a bad line in an included file', '@include common\n', /common:2: "sufficent" is not a PAM control/],
  ])('refuses %s, as Linux-PAM would, naming file and line', (_name, text, message) => {
    const read = files({ '/etc/pam.d/smtp': text, '/etc/pam.d/common': 'auth required pam_mysql.so db=p\naccount sufficent pam_unix.so\n' });
    expect(() => findPamMysqlLines('/etc/pam.d/smtp', read)).toThrow(message);
  });

  it('accepts what Linux-PAM accepts: any case, jumps, every return value, and password and session lines as they come', () => {
    const text = [
      'AUTH Required pam_mysql.so db=p',
      'auth [success=2 new_authtok_reqd=done default=ignore] pam_unix.so',
      'account [user_unknown=ignore authinfo_unavail=die default=bad] pam_mysql.so db=p',
      'password whatever pam_unix.so',
      'session optional pam_keyinit.so revoke',
    ].join('\n');
    const lines = findPamMysqlLines('/etc/pam.d/smtp', files({ '/etc/pam.d/smtp': `${text}\n` }));
    expect(lines.auth).toMatchObject({ control: 'required', origin: '/etc/pam.d/smtp:1' });
    expect(lines.account?.control).toBe('user_unknown=ignore authinfo_unavail=die default=bad');
  });

  it('stops an include loop', () => {
    expect(() => findPamMysqlLines('/p/a', files({ '/p/a': '@include b\n', '/p/b': '@include a\n' }))).toThrow(/nest deeper/);
  });
});

describe('pam_mysql options', () => {
  it('turns the classic line into settings', () => {
    const outcome = pamMysqlSettings(findPamMysqlLines('/etc/pam.d/smtp', files({ '/etc/pam.d/smtp': CLASSIC })), tuning);
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    expect(outcome.settings).toMatchObject({
      connection: { hosts: [{ host: '127.0.0.1', port: 3306 }], database: 'postfix', user: 'database', password: 'password' },
      lookup: { kind: 'columns', table: 'mailbox', userColumn: 'username', passwordColumn: 'password' },
      defaultScheme: 'crypt',
    });
    expect(outcome.warnings).toEqual([expect.stringMatching(/^md5: /)]);
    expect(JSON.stringify(outcome.warnings)).not.toContain('password=');
  });

  it('reads host:port, /sockets, where=, statcolumn from the account line, and crypt names', () => {
    const read = files({
      '/p/smtp':
        'auth required pam_mysql.so host=db.example:3307 db=postfix user=u passwd=p table=mailbox usercolumn=username passwdcolumn=password [where=active = 1] crypt=sha256 verbose=1 try_first_pass frobnicate=2\n' +
        'account required pam_mysql.so statcolumn=status\n',
      '/p/imap': 'auth required pam_mysql.so host=/run/mysqld/mysqld.sock db=postfix table=mailbox usercolumn=username passwdcolumn=password\n',
    });
    const smtp = pamMysqlSettings(findPamMysqlLines('/p/smtp', read), tuning);
    expect(smtp).toMatchObject({ ok: true, settings: { connection: { hosts: [{ host: 'db.example', port: 3307 }] }, lookup: { where: 'active = 1', statusColumn: 'status' }, defaultScheme: 'sha256' } });
    if (smtp.ok) expect(smtp.warnings.map((w) => w.split(':')[0])).toEqual(['verbose', 'try_first_pass', 'frobnicate']);
    const imap = pamMysqlSettings(findPamMysqlLines('/p/imap', read), tuning);
    expect(imap).toMatchObject({ ok: true, settings: { connection: { hosts: [{ socketPath: '/run/mysqld/mysqld.sock' }] }, defaultScheme: 'plain' } });
  });

  it('reads a config_file, with the PAM line winning', () => {
    const read = files({
      '/p/smtp': 'auth required pam_mysql.so config_file=/etc/pam-mysql.conf table=mailbox_override\n',
      '/etc/pam-mysql.conf': 'users.host = db2:3308;\nusers.database = postfix\nusers.db_user = sasl\nusers.db_passwd = s3cret\nusers.table = mailbox\nusers.user_column = username\nusers.password_column = password\nusers.password_crypt = 1\nusers.where_clause = active=1\n',
    });
    const outcome = pamMysqlSettings(findPamMysqlLines('/p/smtp', read), tuning, read);
    expect(outcome).toMatchObject({
      ok: true,
      files: ['/etc/pam-mysql.conf'],
      settings: { connection: { hosts: [{ host: 'db2', port: 3308 }], user: 'sasl', password: 's3cret' }, lookup: { table: 'mailbox_override', where: 'active=1' }, defaultScheme: 'crypt' },
    });
    expect(parseConfigFile('# c\nusers.table = t;\nnonsense\nunknown.key = x\n')).toEqual(new Map([['table', 't']]));
  });

  it('refuses TLS name checking against an IP host= (the driver cannot check it), saying what to do', () => {
    const read = files({ '/p/smtp': 'auth required pam_mysql.so host=10.0.0.5 db=p table=t usercolumn=u passwdcolumn=p\n' });
    const withTls = { ...tuning, tls: { verifyIdentity: true } };
    expect(pamMysqlSettings(findPamMysqlLines('/p/smtp', read), withTls)).toMatchObject({ ok: false, reason: expect.stringContaining('TLS name checking needs host names') });
    expect(pamMysqlSettings(findPamMysqlLines('/p/smtp', read), { ...tuning, tls: { verifyIdentity: false } })).toMatchObject({ ok: true });
  });

  it('refuses a service without a usable line, saying why', () => {
    expect(pamMysqlSettings({ others: [] }, tuning)).toMatchObject({ ok: false, reason: expect.stringContaining('no "auth') });
    const read = files({ '/p/x': 'auth required pam_mysql.so db=postfix table=mailbox\n' });
    expect(pamMysqlSettings(findPamMysqlLines('/p/x', read), tuning)).toMatchObject({ ok: false, reason: expect.stringContaining('lacks usercolumn, passwdcolumn') });
    const bad = files({ '/p/y': 'auth required pam_mysql.so db=p table=t usercolumn=u passwdcolumn=p crypt=rot13\n' });
    expect(pamMysqlSettings(findPamMysqlLines('/p/y', bad), tuning)).toMatchObject({ ok: false, reason: expect.stringContaining('crypt=rot13') });
  });
});

describe('the rest of the stack', () => {
  it('lists every other auth and account module, includes followed', () => {
    const read = files({
      '/p/smtp': 'auth requisite pam_listfile.so item=user sense=allow file=/etc/x onerr=fail\n@include common\nauth required pam_mysql.so db=p\nsession required pam_limits.so\n',
      '/p/common': 'account [success=1 default=bad] pam_time.so\nauth sufficient /lib/security/pam_unix.so\n',
    });
    expect(findPamMysqlLines('/p/smtp', read).others).toEqual([
      { type: 'auth', control: 'requisite', module: 'pam_listfile.so', origin: '/p/smtp:1' },
      { type: 'account', control: 'success=1 default=bad', module: 'pam_time.so', origin: '/p/common:1' },
      { type: 'auth', control: 'sufficient', module: 'pam_unix.so', origin: '/p/common:2' },
    ]);
  });

  it.each([
    ['required', true, false],
    ['requisite', true, false],
    ['sufficient', false, true],
    ['optional', false, false],
    ['success=1 default=ignore', false, false],
    ['success=ok default=bad', true, false],
    ['default=die', true, false],
    ['success=done default=ignore', false, true],
  ])('control %s: could deny %s, could grant %s', (control, deny, grant) => {
    expect([couldDeny(control), couldGrant(control)]).toEqual([deny, grant]);
  });
});
