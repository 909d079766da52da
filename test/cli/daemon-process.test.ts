/**
 * The built daemon as a real process: flags, exit codes, signals, and what
 * it writes to its output.
 */
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, fstatSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { resolveDaemonConfig } from '../../src/config/daemon-config.js';
import { VERSION } from '../../src/common/version.js';
import { describe, expect, it } from 'vitest';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { CLI, PROJECT_ROOT, runCli, runCliUnprivileged, spawnDaemon } from '../helpers/cli.js';
import { DEMO_HASH } from '../helpers/daemon.js';
import { tempDir } from '../helpers/temp.js';

function passwdFile(lines: string[]): string {
  const file = path.join(tempDir(), 'passwd');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const users = () => passwdFile([`demo@example.org:${DEMO_HASH}`]);
const ask = (socketPath: string, password: string) =>
  exchange(socketPath, requestFrame({ login: 'demo', password, service: 'smtp', realm: 'example.org' })).then((r) => r.reply);

describe('command line', () => {
  it('-v prints the version and mechanisms and exits 0, like saslauthd -v', async () => {
    const result = await runCli(['-v']);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^saslauthd-mysql \d+\.\d+\.\d+\nauthentication mechanisms: passwd-file pam mysql\n$/);
  });

  it('--version prints the same to standard output, so that $(saslauthd-mysql --version) holds it', async () => {
    const result = await runCli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^saslauthd-mysql \d+\.\d+\.\d+\nauthentication mechanisms: passwd-file pam mysql\n$/);
    expect(result.stderr).toBe('');
  });

  it('--help at the top shows the commands and the daemon\'s own flags', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const text of ['serve', 'check', 'hash', '-a, --mech <mech>', '-m, --run-dir <dir>', '--throttle-after <n>', '--version']) expect(result.stdout).toContain(text);
  });

  it.each([
    ['an unknown flag', ['-q'], "unknown option '-q'"],
    ['a missing mechanism', ['-m', '/tmp/x'], '-a: no mechanism given'],
    ['an unknown mechanism', ['-a', 'ldap', '-m', '/tmp/x'], '-a: must be one of'],
    ['passwd-file without a file', ['-a', 'passwd-file', '-m', '/tmp/x'], '--passwd-file: required'],
    ['a bad number', ['-a', 'passwd-file', '-O', 'demo/passwd', '--max-connections', 'lots'], '--max-connections: expected a whole number'],
    ['a flag missing its value', ['-a'], "option '-a, --mech <mech>' argument missing"],
  ])('exits non-zero on %s, naming the problem', async (_name, args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(message);
  });

  it('exits 1 with a clear message when the passwd-file is missing, before creating a socket', async () => {
    const runDir = path.join(tempDir(), 'run');
    const result = await runCli(['-a', 'passwd-file', '-O', '/nonexistent/passwd', '-m', runDir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('cannot read passwd-file /nonexistent/passwd: No such file or directory');
    expect(existsSync(path.join(runDir, 'mux'))).toBe(false);
  });

  it('exits 1 with ERR_SOCKET_PERMISSION and the fix when its user may not write the socket directory', async () => {
    const dir = path.join(tempDir(), 'saslauthd');
    mkdirSync(dir, { mode: 0o510 });
    chmodSync(dir, 0o510);
    const result = await runCliUnprivileged(['-a', 'passwd-file', '-O', users(), '-m', dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`saslauthd-mysql: cannot start: cannot create the socket ${dir}/mux:`);
    expect(result.stderr).toContain(`-g sasl -m 0710 ${dir}`);
    expect(result.stdout).toContain('"code":"ERR_SOCKET_PERMISSION"');
  });

  it('exits 2 when another daemon already answers on the socket, as saslauthd does', async () => {
    const runDir = path.join(tempDir(), 'run');
    const first = await spawnDaemon(['-a', 'passwd-file', '-O', users(), '-r', '-m', runDir]);
    const second = await runCli(['-a', 'passwd-file', '-O', users(), '-r', '-m', runDir]);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain('another daemon is already answering');
    expect(await ask(path.join(runDir, 'mux'), 'demo')).toBe('OK');
    await first.stop();
  });

  it('accepts every saslauthd 2.1.28 flag (-a -O -m -n -s -t -c -l -r -d -H -T -V), combined short flags too, and says which have no effect', async () => {
    const runDir = path.join(tempDir(), 'run');
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', users(), '-rlcT', '-n', '5', '-s', '960', '-t', '60', '-H', 'imap.example.org', '-V', `-m${runDir}`]);
    expect(await ask(path.join(runDir, 'mux'), 'demo')).toBe('OK');
    await daemon.stop();
    const said = daemon.records().map((record) => String(record.msg));
    expect(said).toContain('saslauthd -n/-l accepted for compatibility; one process serves all requests concurrently');
    expect(said.some((msg) => msg.startsWith('saslauthd -H accepted for compatibility'))).toBe(true);
    expect(said.some((msg) => msg.startsWith('saslauthd -T accepted for compatibility'))).toBe(true);
  });

  it('maps -s (kilobytes of saslauthd\'s table) to cache entries, and refuses it beside --cache-size', async () => {
    expect(resolveDaemonConfig({ mech: 'passwd-file', passwdFile: 'x', cache: true, cacheTableSize: '960' }, {}).caches.credential?.entries).toBe(10_240);
    const both = await runCli(['-a', 'passwd-file', '-O', 'demo/passwd', '-c', '-s', '64', '--cache-size', '100', '-m', tempDir()]);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('-s: and --cache-size both size the -c cache: give one');
  });
});

describe('-d', () => {
  it('writes one readable line per record: the lookup, then the answer, each on its own line', async () => {
    const runDir = path.join(tempDir(), 'run');
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', users(), '-r', '-m', runDir, '-d']);
    expect(await ask(path.join(runDir, 'mux'), 'wrong')).toBe('NO authentication failed');
    await daemon.stop();
    const lines = daemon.output().split('\n').filter((line) => line !== '');
    // Every line starts with its time and level: nothing spills onto lines of its own.
    expect(lines.every((line) => /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [^\]]+\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): /.test(line)), lines.join('\n')).toBe(true);
    const login = lines.filter((line) => line.includes('demo@example.org'));
    expect(login).toHaveLength(2);
    expect(login[0]).toMatch(/DEBUG: lookup \[user=demo@example\.org\] \[service=smtp\]: found \{"lookupMs":[\d.]+\}$/);
    expect(login[1]).toMatch(/INFO: auth failure: \[user=demo@example\.org\] \[service=smtp\] \[realm=example\.org\] \[mech=passwd-file\] \[reason=wrong password\] \{"code":"ERR_WRONG_PASSWORD","scheme":"MD5-CRYPT","durationMs":[\d.]+\}$/);
  });
});

describe('under systemd', () => {
  /** Run the daemon with stdout on a file, JOURNAL_STREAM naming `journalStream`, until it has answered one login. */
  async function runWithStdoutFile(journalStream: (dev: bigint, ino: bigint) => string): Promise<string[]> {
    const dir = tempDir();
    const out = path.join(dir, 'stdout');
    const fd = openSync(out, 'w');
    const { dev, ino } = fstatSync(fd, { bigint: true });
    const child = spawn(process.execPath, [CLI, '-a', 'passwd-file', '-O', users(), '-r', '-m', path.join(dir, 'run')], { env: { ...process.env, JOURNAL_STREAM: journalStream(dev, ino) }, stdio: ['ignore', fd, 'ignore'] });
    closeSync(fd);
    try {
      const socketPath = path.join(dir, 'run', 'mux');
      // The "listening" line, not the socket file: the file appears at bind(), a moment before listen()
      // (a CPU hog beside the suite made that moment long enough to be refused once).
      const deadline = Date.now() + 10_000;
      while (!readFileSync(out, 'utf8').includes('"msg":"listening"') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await ask(socketPath, 'wrong')).toBe('NO authentication failed');
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    return readFileSync(out, 'utf8').split('\n').filter((line) => line !== '');
  }

  it('writes the journal priority in front of each line when stdout is the journal, so journalctl -p works', async () => {
    const lines = await runWithStdoutFile((dev, ino) => `${dev}:${ino}`);
    expect(lines.every((line) => /^<[2-7]>\{"level":/.test(line))).toBe(true);
    const failure = lines.find((line) => line.includes('"event":"auth"'));
    expect(failure?.startsWith('<6>{"level":30')).toBe(true);
  });

  it('writes plain JSON when JOURNAL_STREAM names another file (stdout redirected elsewhere)', async () => {
    const lines = await runWithStdoutFile(() => '1:1');
    expect(lines.every((line) => line.startsWith('{"level":'))).toBe(true);
  });
});

describe('signals', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: exits 0 and removes the socket`, async () => {
      const runDir = path.join(tempDir(), 'run');
      const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', users(), '-r', '-m', runDir]);
      expect(await ask(path.join(runDir, 'mux'), 'demo')).toBe('OK');
      expect(await daemon.stop(signal)).toEqual({ code: 0, signal: null });
      expect(existsSync(path.join(runDir, 'mux'))).toBe(false);
      expect(daemon.records().some((r) => r.msg === 'stopped')).toBe(true);
    });
  }

  it('SIGTERM lets a request that is already arriving finish within the grace period', async () => {
    const runDir = path.join(tempDir(), 'run');
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', users(), '-r', '-m', runDir, '--shutdown-grace', '3000']);
    const frame = requestFrame({ login: 'demo', password: 'demo', service: 'smtp', realm: 'example.org' });
    const pending = exchange(path.join(runDir, 'mux'), [frame.subarray(0, 5), frame.subarray(5)], { gapMs: 500 });
    await new Promise((r) => setTimeout(r, 150));
    const exit = daemon.stop('SIGTERM');
    expect((await pending).reply).toBe('OK');
    expect(await exit).toEqual({ code: 0, signal: null });
  });

  it('reloads on SIGHUP and keeps answering; a passwd-file that became unreadable is refused and the old users kept', async () => {
    const runDir = path.join(tempDir(), 'run');
    const file = users();
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', file, '-r', '-m', runDir]);
    daemon.child.kill('SIGHUP');
    await daemon.waitForOutput('SIGHUP: configuration reloaded, backend replaced, caches flushed');
    expect(await ask(path.join(runDir, 'mux'), 'demo')).toBe('OK');

    rmSync(file);
    daemon.child.kill('SIGHUP');
    await daemon.waitForOutput('SIGHUP: new configuration refused, keeping the running one (caches flushed): cannot read passwd-file');
    expect(await ask(path.join(runDir, 'mux'), 'demo')).toBe('OK');
    expect(daemon.child.exitCode).toBeNull();
    await daemon.stop();
  });

  it('reads the environment file again at a reload (systemd reads it only at start): an edit applies, a restart-only one and a line taken out are named', async () => {
    const dir = tempDir();
    const runDir = path.join(dir, 'run');
    const defaults = path.join(dir, 'default');
    const file = users();
    writeFileSync(defaults, `# as /etc/default/saslauthd-mysql\nSASLAUTHD_MYSQL_PASSWD_FILE=${file}\nSASLAUTHD_MYSQL_CACHE=yes\n`);
    // As systemd starts it: the file's lines in the environment, and the file named.
    const env = { ...process.env, SASLAUTHD_MYSQL_PASSWD_FILE: file, SASLAUTHD_MYSQL_CACHE: 'yes', SASLAUTHD_MYSQL_ENVIRONMENT_FILE: defaults };
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-r', '-m', runDir], { env });
    expect(await ask(path.join(runDir, 'mux'), 'demo')).toBe('OK');
    expect(daemon.records().some((r) => r.event === 'auth' && r.result === 'success')).toBe(false);

    writeFileSync(defaults, `SASLAUTHD_MYSQL_PASSWD_FILE=${file}\nSASLAUTHD_MYSQL_LOG_SUCCESSES="yes"\nSASLAUTHD_MYSQL_LOG_LEVEL=debug\n`);
    daemon.child.kill('SIGHUP');
    await daemon.waitForOutput('SIGHUP: changed settings that only a restart applies');
    const warning = daemon.records().find((r) => r.event === 'reload' && r.level === 40);
    expect(warning?.restartNeeded).toEqual(['--log-level', `SASLAUTHD_MYSQL_CACHE (taken out of ${defaults})`]);
    // -V came from the file at the reload: successes are logged now.
    expect(await ask(path.join(runDir, 'mux'), 'demo')).toBe('OK');
    await daemon.stop();
    expect(daemon.records().filter((r) => r.event === 'auth').map((r) => r.result)).toEqual(['success']);
  });
});

describe('output', () => {
  it('never prints a password, even with -d at trace level', async () => {
    const runDir = path.join(tempDir(), 'run');
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', users(), '-r', '-d', '--log-level', 'trace', '-m', runDir]);
    const socketPath = path.join(runDir, 'mux');
    await ask(socketPath, 'demo');
    await ask(socketPath, 'Secret-Marker-Right-Wrong-91');
    await exchange(socketPath, requestFrame({ login: '', password: 'Secret-Marker-Empty-Login-92' }));
    await exchange(socketPath, requestFrame({ login: 'x\u0007', password: 'Secret-Marker-Bad-Login-93' }));
    await daemon.stop();
    const output = daemon.output();
    expect(output).toContain('auth failure');
    expect(output).not.toMatch(/Secret-Marker/);
    expect(output).not.toContain(DEMO_HASH);
  });

  it('--crypt-engine js: says so when listening, with the version, and the md5crypt demo account still logs in', async () => {
    const runDir = path.join(tempDir(), 'run');
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', users(), '-r', '-V', '-m', runDir, '--crypt-engine', 'js']);
    expect(await ask(path.join(runDir, 'mux'), 'demo')).toMatch(/^OK/);
    expect(await ask(path.join(runDir, 'mux'), 'wrong')).toMatch(/^NO/);
    await daemon.stop();
    expect(daemon.records().find((r) => r.msg === 'listening')).toMatchObject({ crypt: 'js', version: VERSION });
    expect(daemon.records().filter((r) => r.event === 'auth').map((r) => [r.result, r.scheme])).toEqual([['success', 'MD5-CRYPT'], ['failure', 'MD5-CRYPT']]);
  });

  it('logs JSON lines with a saslauthd-shaped message by default: failures, and successes only with -V', async () => {
    const runDir = path.join(tempDir(), 'run');
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', users(), '-r', '-m', runDir]);
    expect(await ask(path.join(runDir, 'mux'), 'demo')).toMatch(/^OK/);
    await ask(path.join(runDir, 'mux'), 'wrong');
    await daemon.stop();
    expect(daemon.records().filter((r) => r.event === 'auth').map((r) => r.result)).toEqual(['failure']);
    const failure = daemon.records().find((r) => r.event === 'auth');
    expect(failure).toMatchObject({
      msg: 'auth failure: [user=demo@example.org] [service=smtp] [realm=example.org] [mech=passwd-file] [reason=wrong password]',
      result: 'failure',
      code: 'ERR_WRONG_PASSWORD',
    });
  });
});

describe("the README's demo command", () => {
  it('runs the demo passwd-file with the flags of "npm start", and the demo account logs in', async () => {
    const pkg = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
    // node, the installed command's V8 flags (test/packaging/v8-flags.test.ts), the command, the daemon's flags.
    const [node, ...words] = pkg.scripts.start.split(/\s+/);
    expect(node).toBe('node');
    const at = words.findIndex((word) => !word.startsWith('--'));
    expect(words[at]).toBe('dist/cli/main.js');
    const flags = words.slice(at + 1);
    // Same flags, but the socket in a temp dir so a developer's own demo daemon is left alone.
    const runDir = path.join(tempDir(), 'run');
    const daemon = await spawnDaemon([...flags, '-m', runDir]);
    const socketPath = path.join(runDir, 'mux');
    expect(await ask(socketPath, 'demo')).toBe('OK');
    expect(await ask(socketPath, 'not-demo')).toBe('NO authentication failed');
    await daemon.stop();
  });
});
