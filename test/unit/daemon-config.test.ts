import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveDaemonConfig, settingsNeedingRestart, type DaemonFlags } from '../../src/config/daemon-config.js';
import { everyOption } from '../../src/config/options.js';
import { inNetworks as trustedPeers } from '../../src/common/networks.js';
import { buildProgram } from '../../src/cli/program.js';
import { ConfigError, ErrorCodes } from '../../src/errors.js';

const base: DaemonFlags = { mech: 'passwd-file', passwdFile: 'demo/passwd' };

function configError(flags: DaemonFlags, env: Record<string, string> = {}): ConfigError {
  try {
    resolveDaemonConfig(flags, env, '/srv');
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a configuration error');
}

describe('resolveDaemonConfig', () => {
  it('has sane defaults', () => {
    const config = resolveDaemonConfig(base, {}, '/srv');
    expect(config).toMatchObject({
      mech: 'passwd-file',
      runDir: '/run/saslauthd',
      socketPath: '/run/saslauthd/mux',
      backend: { kind: 'passwd-file', file: '/srv/demo/passwd' },
      realm: { joinRealm: false, lowercase: false },
      defaultScheme: 'crypt',
      socket: { mode: 0o666 },
      maxConnections: 512,
      log: { level: 'info', pretty: false, successes: false },
      timeouts: { readTimeoutMs: 5_000, answerTimeoutMs: 10_000, replyTimeoutMs: 5_000 },
      dovecotTimeouts: { handshakeTimeoutMs: 5_000, answerTimeoutMs: 10_000, responseTimeoutMs: 5_000 },
      throttle: { afterFailures: 5, maxDelayMs: 5_000, windowMs: 900_000 },
      caches: { verifiedEntries: 10_000 },
      verify: { maxQueue: 256, engine: 'auto' },
      ceilings: { bcryptCost: 14, shaCryptRounds: 1_000_000, argon2MemoryKiB: 262_144, argon2Passes: 10, phpassLog2: 20 },
      shutdownGraceMs: 5_000,
    });
    expect(config.caches.credential).toBeUndefined();
    expect(config.metrics).toBeUndefined();
  });

  it('takes every default from the option table, and shows it in the help text', () => {
    for (const option of everyOption()) {
      if (typeof option.default !== 'number') continue;
      const config = resolveDaemonConfig(base, {}, '/srv');
      expect(config.settings[option.name], option.longFlag).toBe(option.default);
    }
    const help = buildProgram().commands.find((command) => command.name() === 'serve')!.helpInformation().replace(/\s+/g, ' ');
    expect(help).toContain('(default 5000)');
    expect(help).toContain('(default the smaller of 5000 and half of --answer-timeout)');
    // The worked-out one: half the answer deadline when that is shorter.
    expect(resolveDaemonConfig({ ...base, answerTimeout: '3000' }, {}, '/srv').throttle.maxDelayMs).toBe(1500);
  });

  it('refuses a value outside the range its row gives, naming the flag', () => {
    for (const option of everyOption()) {
      if (option.value.kind !== 'integer') continue;
      const flags = { ...base, [option.name]: String(option.value.max + 1) };
      expect(configError(flags, {}).message, option.longFlag).toContain(`must be between ${option.value.min} and ${option.value.max}`);
    }
  });

  it('says which changed settings a reload cannot apply, by the rows that say so', () => {
    const running = resolveDaemonConfig(base, {}, '/srv');
    const next = resolveDaemonConfig({ ...base, readTimeout: '900', realmJoin: true, logSuccesses: true, throttleAfter: '9' }, {}, '/srv');
    expect(settingsNeedingRestart(running, next)).toEqual(['--read-timeout']);
    expect(settingsNeedingRestart(running, resolveDaemonConfig(base, {}, '/srv'))).toEqual([]);
  });

  it('refuses a misspelt SASLAUTHD_MYSQL_ variable instead of ignoring it', () => {
    const error = configError(base, { SASLAUTHD_MYSQL_CACHE_TIMEOUT: '300' });
    expect(error.key).toBe('SASLAUTHD_MYSQL_CACHE_TIMEOUT');
    expect(error.message).toMatch(/unknown variable/);
    expect(configError(base, { SASLAUTHD_MYSQL_DB_PASSWD: 'x' }).key).toBe('SASLAUTHD_MYSQL_DB_PASSWD');
    // A typo gets the name it most likely meant, and where the list is.
    expect(configError(base, { SASLAUTHD_MYSQL_DB_PASSWD: 'x' }).message).toMatch(/did you mean SASLAUTHD_MYSQL_DB_PASSWORD\? \(\S*configuration\.md lists the known ones\)/);
    expect(configError(base, { SASLAUTHD_MYSQL_RUNDIR: '/run' }).message).toMatch(/did you mean SASLAUTHD_MYSQL_RUN_DIR\?/);
    expect(configError(base, { SASLAUTHD_MYSQL_SOMETHING_ELSE_ENTIRELY: '1' }).message).not.toMatch(/did you mean/);
    // Known names, including the database ones, pass; other programs' variables are none of our business.
    expect(() => resolveDaemonConfig(base, { SASLAUTHD_MYSQL_CACHE_TTL: '300', SASLAUTHD_MYSQL_DB_PASSWORD: 'x', SASLAUTHD_MYSQL_DB_URL: 'mysql://h/db', MYSQL_PWD: 'y' }, '/srv')).not.toThrow();
  });

  it('takes a flag over the environment, and the environment over the default', () => {
    const env = { SASLAUTHD_MYSQL_RUN_DIR: '/env/run', SASLAUTHD_MYSQL_READ_TIMEOUT: '750', SASLAUTHD_MYSQL_REALM_JOIN: 'yes' };
    const fromEnv = resolveDaemonConfig(base, env, '/srv');
    expect(fromEnv.socketPath).toBe('/env/run/mux');
    expect(fromEnv.timeouts.readTimeoutMs).toBe(750);
    expect(fromEnv.realm.joinRealm).toBe(true);
    const fromFlag = resolveDaemonConfig({ ...base, runDir: 'rel/run', readTimeout: '900' }, env, '/srv');
    expect(fromFlag.socketPath).toBe('/srv/rel/run/mux');
    expect(fromFlag.timeouts.readTimeoutMs).toBe(900);
  });

  it('reads the usual spellings of yes and no in the environment, and refuses anything else', () => {
    for (const value of ['0', 'no', 'OFF', 'false', ' No ']) {
      expect(resolveDaemonConfig(base, { SASLAUTHD_MYSQL_LOWERCASE: value }).realm.lowercase).toBe(false);
    }
    for (const value of ['1', 'YES', 'on', 'True']) {
      expect(resolveDaemonConfig(base, { SASLAUTHD_MYSQL_LOWERCASE: value }).realm.lowercase).toBe(true);
    }
    // "off" used to read as yes (anything but 0, N, false, no did): a realm joined that nobody asked for.
    expect(resolveDaemonConfig(base, { SASLAUTHD_MYSQL_REALM_JOIN: 'off' }).realm.joinRealm).toBe(false);
    for (const value of ['N', 'y', 'enabled', '2']) {
      expect(() => resolveDaemonConfig(base, { SASLAUTHD_MYSQL_REALM_JOIN: value })).toThrow(/SASLAUTHD_MYSQL_REALM_JOIN: expected 1, yes, on or true, or 0, no, off or false/);
    }
  });

  it('reads --dovecot-trusted-peers as addresses and networks, and refuses anything else or it alone', () => {
    expect(resolveDaemonConfig({ ...base, dovecotListen: '0', dovecotTrustedPeers: '192.0.2.25, 2001:db8:25::/48' }, {}).dovecot).toMatchObject({ trustedPeers: ['192.0.2.25', '2001:db8:25::/48'] });
    for (const bad of ['mail.example.org', '192.0.2.0/33', '192.0.2.1/8/1']) expect(() => resolveDaemonConfig({ ...base, dovecotListen: '0', dovecotTrustedPeers: bad }, {})).toThrow(/--dovecot-trusted-peers: expected IP addresses or networks/);
    expect(() => resolveDaemonConfig({ ...base, dovecotTrustedPeers: '192.0.2.25' }, {})).toThrow(/only means something with --dovecot-listen/);
    const trusts = trustedPeers(['192.0.2.0/24', '2001:db8::/32']);
    expect(['192.0.2.7', '::ffff:192.0.2.7', '2001:db8:1::1'].map(trusts)).toEqual([true, true, true]);
    expect(['192.0.3.7', '2001:db9::1', 'nonsense'].map(trusts)).toEqual([false, false, false]);
  });

  it('reads --dovecot-listen as a port on loopback, or an address and a port', () => {
    expect(resolveDaemonConfig({ ...base, dovecotListen: '12345' }, {}).dovecot).toMatchObject({ listen: { host: '127.0.0.1', port: 12345 } });
    expect(resolveDaemonConfig({ ...base, dovecotListen: '[::1]:12345' }, {}).dovecot).toMatchObject({ listen: { host: '::1', port: 12345 } });
    expect(() => resolveDaemonConfig({ ...base, dovecotListen: 'mail.example.org:12345' }, {})).toThrow(/--dovecot-listen: expected a port/);
    expect(resolveDaemonConfig(base, {}).dovecot).toBeUndefined();
  });

  it('checks every value, even for a feature that is off', () => {
    expect(() => resolveDaemonConfig({ ...base, cacheTtl: 'abc' }, {})).toThrow(/-t.*whole number/);
    expect(() => resolveDaemonConfig({ ...base, cacheSize: '0' }, {})).toThrow(/--cache-size/);
    expect(() => resolveDaemonConfig(base, { SASLAUTHD_MYSQL_PAM_IGNORE_MODULES: 'not a module' })).toThrow(/SASLAUTHD_MYSQL_PAM_IGNORE_MODULES/);
  });

  it('reads the default scheme as a pam_mysql crypt= number or name', () => {
    expect(resolveDaemonConfig({ ...base, defaultScheme: '3' }, {}).defaultScheme).toBe('md5');
    expect(resolveDaemonConfig({ ...base }, { SASLAUTHD_MYSQL_DEFAULT_SCHEME: 'joomla15' }).defaultScheme).toBe('joomla15');
  });

  it('sizes the verification pool', () => {
    expect(resolveDaemonConfig({ ...base, verifyThreads: '3', verifyQueue: '10' }, {}).verify).toEqual({ threads: 3, maxQueue: 10, engine: 'auto' });
    expect(resolveDaemonConfig(base, {}).verify.threads).toBeGreaterThanOrEqual(1);
    expect(resolveDaemonConfig({ ...base, cryptEngine: 'JS' }, {}).verify.engine).toBe('js');
    expect(resolveDaemonConfig(base, { SASLAUTHD_MYSQL_CRYPT_ENGINE: 'native' }).verify.engine).toBe('native');
    expect(() => resolveDaemonConfig({ ...base, cryptEngine: 'wasm' }, {})).toThrow(/--crypt-engine: must be one of auto, native, js/);
  });

  it('reads -a mysql settings from the environment, a URL included', () => {
    const config = resolveDaemonConfig({ mech: 'mysql' }, { SASLAUTHD_MYSQL_DB_URL: 'mysql://sasl:p%40ss@db1:3307/postfix', SASLAUTHD_MYSQL_DB_HOSTS: 'db1:3307,db2', SASLAUTHD_MYSQL_DB_TABLE: 'mailbox', SASLAUTHD_MYSQL_DB_WHERE: 'active = 1', SASLAUTHD_MYSQL_DB_DEFAULT_SCHEME: '1' });
    expect(config.backend).toMatchObject({
      kind: 'mysql',
      settings: {
        connection: { hosts: [{ host: 'db1', port: 3307 }, { host: 'db2', port: 3306 }], database: 'postfix', user: 'sasl', password: 'p@ss' },
        lookup: { kind: 'columns', table: 'mailbox', userColumn: 'username', passwordColumn: 'password', where: 'active = 1' },
        defaultScheme: 'crypt',
      },
    });
  });

  it('-a pam reads service files from /etc/pam.d unless told otherwise', () => {
    expect(resolveDaemonConfig({ mech: 'pam' }, {}).backend).toMatchObject({ kind: 'pam', pamDir: '/etc/pam.d' });
    expect(resolveDaemonConfig({ mech: 'pam', pamDir: 'pam' }, {}, '/srv').backend).toMatchObject({ kind: 'pam', pamDir: '/srv/pam' });
  });

  it('uses -O as the passwd-file path', () => {
    expect(resolveDaemonConfig({ mech: 'passwd-file', mechOption: '/etc/x' }, {}).backend).toEqual({ kind: 'passwd-file', file: '/etc/x' });
  });

  it('-d means human-readable debug logs unless a level is given', () => {
    expect(resolveDaemonConfig({ ...base, debug: true }, {}).log).toEqual({ level: 'debug', pretty: true, successes: false });
    expect(resolveDaemonConfig({ ...base, debug: true, logLevel: 'warn' }, {}).log).toEqual({ level: 'warn', pretty: true, successes: false });
  });

  it('-V (saslauthd verbose) logs successes, from the flag or the environment', () => {
    expect(resolveDaemonConfig({ ...base, logSuccesses: true }, {}).log.successes).toBe(true);
    expect(resolveDaemonConfig(base, { SASLAUTHD_MYSQL_LOG_SUCCESSES: 'yes' }).log.successes).toBe(true);
    expect(resolveDaemonConfig(base, { SASLAUTHD_MYSQL_LOG_SUCCESSES: 'no' }).log.successes).toBe(false);
    expect(resolveDaemonConfig(base, { SASLAUTHD_MYSQL_LOG_SUCCESSES: '0' }).log.successes).toBe(false);
  });

  it('returns a frozen configuration', () => {
    const config = resolveDaemonConfig(base, {});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.timeouts)).toBe(true);
  });

  it.each([
    ['no mechanism', { passwdFile: 'x' }, {}, '-a'],
    ['an unknown mechanism', { mech: 'ldap', passwdFile: 'x' }, {}, '-a'],
    ['-a mysql without a database host', { mech: 'mysql' }, { SASLAUTHD_MYSQL_DB_DATABASE: 'postfix', SASLAUTHD_MYSQL_DB_USER: 'u', SASLAUTHD_MYSQL_DB_TABLE: 'mailbox' }, 'hosts'],
    ['-a mysql with a bad host', { mech: 'mysql' }, { SASLAUTHD_MYSQL_DB_HOSTS: 'a:b:c', SASLAUTHD_MYSQL_DB_DATABASE: 'd', SASLAUTHD_MYSQL_DB_USER: 'u', SASLAUTHD_MYSQL_DB_TABLE: 't' }, 'SASLAUTHD_MYSQL_DB_HOSTS'],
    ['-a mysql with neither table nor query', { mech: 'mysql' }, { SASLAUTHD_MYSQL_DB_URL: 'mysql://u:p@db/postfix' }, 'table'],
    ['-a mysql with a bad placeholder', { mech: 'mysql' }, { SASLAUTHD_MYSQL_DB_URL: 'mysql://u:p@db/postfix', SASLAUTHD_MYSQL_DB_PASSWORD_QUERY: "SELECT password FROM mailbox WHERE username = '%x'" }, 'SASLAUTHD_MYSQL_DB_PASSWORD_QUERY'],
    ['-a mysql with a bad timeout', { mech: 'mysql' }, { SASLAUTHD_MYSQL_DB_URL: 'mysql://u:p@db/postfix', SASLAUTHD_MYSQL_DB_TABLE: 'mailbox', SASLAUTHD_MYSQL_DB_QUERY_TIMEOUT: 'soon' }, 'SASLAUTHD_MYSQL_DB_QUERY_TIMEOUT'],
    ['-a pam with a bad pool size', { mech: 'pam' }, { SASLAUTHD_MYSQL_DB_POOL_SIZE: '0' }, 'SASLAUTHD_MYSQL_DB_POOL_SIZE'],
    ['an unknown mechanism from the environment', { passwdFile: 'x' }, { SASLAUTHD_MYSQL_MECH: 'ldap' }, 'SASLAUTHD_MYSQL_MECH'],
    ['passwd-file without a file', { mech: 'passwd-file' }, {}, '--passwd-file'],
    ['a non-numeric timeout', { ...base, readTimeout: 'soon' }, {}, '--read-timeout'],
    ['a timeout out of range', { ...base, answerTimeout: '0' }, {}, '--answer-timeout'],
    ['a bad timeout from the environment', base, { SASLAUTHD_MYSQL_READ_TIMEOUT: '-5' }, 'SASLAUTHD_MYSQL_READ_TIMEOUT'],
    ['a non-octal socket mode', { ...base, socketMode: '0999' }, {}, '--socket-mode'],
    ['an unknown socket group', { ...base, socketGroup: 'no-such-group-here' }, {}, '--socket-group'],
    ['a bad log level', { ...base, logLevel: 'loud' }, {}, '--log-level'],
    ['a default realm with @', { ...base, defaultRealm: 'a@b' }, {}, '--default-realm'],
    ['an unknown default scheme', { ...base, defaultScheme: 'rot13' }, {}, '--default-scheme'],
    ['a bad -n', { ...base, workers: 'many' }, {}, '-n'],
    ['zero verification threads', { ...base, verifyThreads: '0' }, {}, '--verify-threads'],
  ])('refuses %s, naming the key', (_name, flags, env, key) => {
    const error = configError(flags, env);
    expect(error.code).toBe(ErrorCodes.CONFIG);
    expect(error.key).toBe(key);
    expect(error.message.startsWith(`${key}:`)).toBe(true);
  });

  describe('--throttle-store', () => {
    it('takes a redis:// or rediss:// URL, with a deadline of 100 ms unless told', () => {
      expect(resolveDaemonConfig({ ...base, throttleStore: 'redis://127.0.0.1:6380/3' }, {}, '/srv').throttleStore).toMatchObject({ url: 'redis://127.0.0.1:6380/3', deadlineMs: 100 });
      expect(resolveDaemonConfig(base, { SASLAUTHD_MYSQL_THROTTLE_STORE: 'rediss://u:p@redis.example:6380', SASLAUTHD_MYSQL_THROTTLE_STORE_TIMEOUT: '40' }, '/srv').throttleStore).toMatchObject({ deadlineMs: 40 });
      expect(resolveDaemonConfig(base, {}, '/srv').throttleStore).toBeUndefined();
    });

    it('says what is wrong with a URL, a key file or a lone setting', () => {
      expect(configError({ ...base, throttleStore: 'memcached://127.0.0.1' }).message).toMatch(/--throttle-store: expected redis:\/\/ or rediss:\/\//);
      expect(configError({ ...base, throttleStore: 'not a url' }).message).toMatch(/expected a Redis URL/);
      expect(configError({ ...base, throttleStore: 'redis://h:6379/db' }).message).toMatch(/database number/);
      expect(configError({ ...base, throttleStoreKeyFile: '/etc/key' }).message).toMatch(/--throttle-store-key-file: only means something with --throttle-store/);
      expect(configError({ ...base, throttleStore: 'redis://h', throttleAfter: '0' }).message).toMatch(/--throttle-after 0 turns the throttle off/);
      expect(configError({ ...base, throttleStore: 'redis://h', throttleStoreKeyFile: '/nonexistent/key' }).message).toMatch(/cannot read \/nonexistent\/key: ENOENT/);
    });

    it('wants a key of 16 bytes or more, and warns when there is none or it is readable by others', () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'sm-key-'));
      try {
        const short = path.join(dir, 'short');
        writeFileSync(short, 'tiny\n', { mode: 0o600 });
        expect(configError({ ...base, throttleStore: 'redis://h', throttleStoreKeyFile: short }).message).toMatch(/holds 4 bytes; use 16 or more/);
        const open = path.join(dir, 'open');
        writeFileSync(open, 'a long enough shared secret\n');
        chmodSync(open, 0o644);
        const keyed = resolveDaemonConfig({ ...base, throttleStore: 'redis://h', throttleStoreKeyFile: open }, {}, '/srv').throttleStore!;
        expect(keyed.digestKey).toBe('a long enough shared secret');
        expect(keyed.warnings.join()).toMatch(/readable by every user/);
        expect(resolveDaemonConfig({ ...base, throttleStore: 'redis://h' }, {}, '/srv').throttleStore!.warnings.join()).toMatch(/plain SHA-256/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
