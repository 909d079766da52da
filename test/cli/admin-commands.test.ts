/**
 * The administrator's commands as real processes: "hash" (a stored value
 * from a pipe or a terminal prompt, never argv) and "check" (configuration,
 * socket path, a real lookup, the stored scheme; never a secret printed).
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyOnThisThread } from '../../src/crypt/verifier.js';
import { CLI, PROJECT_ROOT, runCli, runCliUnprivileged, spawnDaemon, type Finished } from '../helpers/cli.js';
import { DEMO_HASH } from '../helpers/daemon.js';
import { vector } from '../helpers/vectors.js';
import { seedMailboxServer, ThrowawayServer } from '../helpers/mysql.js';
import { tempDir } from '../helpers/temp.js';

/** Run the CLI with `input` on its standard input (a pipe). */
function runWithInput(args: string[], input: string, env: NodeJS.ProcessEnv = process.env): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: PROJECT_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

describe('saslauthd-mysql hash', () => {
  it('reads the password from a pipe and prints a value that verifies (SHA512-CRYPT by default)', async () => {
    const result = await runWithInput(['hash'], 'n3w pässword\n');
    expect(result.code, result.stderr).toBe(0);
    const value = result.stdout.trim();
    expect(value).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    // One trailing newline is the pipe's, not the password's.
    expect(await verifyOnThisThread(Buffer.from('n3w pässword'), value, 'crypt')).toBe(true);
    expect(result.stderr).toBe('');
  });

  it('writes other schemes, with a note when the old chain could not read the value', async () => {
    const result = await runWithInput(['hash', '--scheme', 'argon2id', '--prefix'], 'secret');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^\{ARGON2ID\}\$argon2id\$/);
    expect(result.stderr).toMatch(/pam_mysql \(crypt=1\) cannot read this value/);
  });

  it('warns when the value it wrote is above a cost ceiling the daemon enforces', async () => {
    const over = await runWithInput(['hash', '--scheme', 'sha512-crypt', '--rounds', '1000001'], 'secret');
    expect(over.code).toBe(0);
    expect(over.stderr).toContain('sha-crypt rounds 1000001 is above the ceiling 1000000 (--max-sha-crypt-rounds)');
    expect((await runWithInput(['hash', '--scheme', 'sha512-crypt'], 'secret')).stderr).not.toContain('ceiling');
  });

  it('lists each scheme once in its help, and takes one in any case', async () => {
    const help = await runCli(['hash', '--help']);
    expect(help.stdout.match(/MD5-CRYPT/gi)).toHaveLength(1);
    expect((await runWithInput(['hash', '--scheme', 'Md5-Crypt'], 'x')).stdout).toMatch(/^\$1\$/);
  });

  it('refuses an empty password and an unknown scheme; takes no password from argv', async () => {
    expect(await runWithInput(['hash'], '\n')).toMatchObject({ code: 1, stderr: 'saslauthd-mysql hash: empty password\n' });
    expect((await runWithInput(['hash', '--scheme', 'rot13'], 'x')).code).toBe(1);
    const argv = await runWithInput(['hash', 'secret'], 'x');
    expect(argv.code).not.toBe(0);
    expect(argv.stdout).toBe('');
  });

  /**
   * util-linux script(1) gives the command a real terminal and forwards our pipe to it. Each
   * answer is typed once its prompt has appeared (echo is off by then), never on a timer: a
   * slow start must not make us type into a terminal that still echoes.
   */
  const PROMPTS = ['Password: ', 'Again: '];
  const typeAtPrompts = (answers: string[]) =>
    new Promise<Finished>((resolve) => {
      const child = spawn('script', ['-qec', `${process.execPath} ${CLI} hash --scheme md5-crypt`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let typed = 0;
      let searchFrom = 0;
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        while (typed < answers.length) {
          const at = stdout.indexOf(PROMPTS[typed]!, searchFrom);
          if (at < 0) break;
          searchFrom = at + PROMPTS[typed]!.length;
          child.stdin.write(`${answers[typed]}\r`);
          typed += 1;
          if (typed === answers.length) setTimeout(() => child.stdin.end(), 600);
        }
      });
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr: '' }));
    });

  it('prompts twice with echo off on a terminal', async () => {
    const typed = await typeAtPrompts(['typed-secret', 'typed-secret']);
    expect(typed.code, typed.stdout).toBe(0);
    expect(typed.stdout).toMatch(/Password: /);
    expect(typed.stdout).toMatch(/Again: /);
    expect(typed.stdout).not.toContain('typed-secret');
    const value = /\$1\$[^\s]+/.exec(typed.stdout)?.[0];
    expect(value && (await verifyOnThisThread(Buffer.from('typed-secret'), value, 'crypt'))).toBe(true);
  }, 20_000);

  it('refuses two different answers at the prompt', async () => {
    const typed = await typeAtPrompts(['typed-secret', 'typed-secreT']);
    expect(typed.code).toBe(1);
    expect(typed.stdout).toMatch(/the two passwords differ/);
    expect(typed.stdout).not.toMatch(/\$1\$/);
  }, 20_000);
});

describe('saslauthd-mysql check, passwd-file', () => {
  it('finds a user, names its scheme, and never prints the stored value', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'passwd');
    writeFileSync(file, `demo@example.org:${DEMO_HASH}\n`);
    const result = await runCli(['check', '-a', 'passwd-file', '-O', file, '-r', '-m', path.join(dir, 'run'), '--user', 'demo', '--realm', 'example.org']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^ok: configuration: -a passwd-file, socket .*\/run\/mux, realm join on/m);
    expect(result.stdout).toMatch(/^ok: user demo@example\.org \(service smtp\): found in [\d.]+ ms; stored value is MD5-CRYPT, verified by libxcrypt \(native addon\)$/m);
    expect(result.stdout + result.stderr).not.toContain(DEMO_HASH);
  });

  it('says so when the user is not there, or the configuration is wrong', async () => {
    const missing = await runCli(['check', '-a', 'passwd-file', '-O', 'demo/passwd', '-r', '-m', tempDir(), '--user', 'nobody', '--realm', 'example.org']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^problem: user nobody@example\.org \(service smtp\): no such user, or not active/m);
    const broken = await runCli(['check', '-a', 'ldap', '-m', tempDir()]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/^problem: configuration: .*must be one of/m);
  });

  it('turns a file it cannot read into one problem line with its code, never a stack trace', async () => {
    const result = await runCli(['check', '-a', 'passwd-file', '-O', '/nonexistent/passwd', '-m', tempDir()]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('problem: cannot read passwd-file /nonexistent/passwd: No such file or directory (ERR_PASSWD_FILE)\n');
  });

  it('reports every warning as a warn: line, no raw JSON, and exits 1 on any', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'passwd');
    writeFileSync(file, `demo@example.org:${DEMO_HASH}\nno colon here\ndemo@example.org:${DEMO_HASH}\n`);
    const result = await runCli(['check', '-a', 'passwd-file', '-O', file, '-m', path.join(dir, 'run')]);
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n').filter((line) => line !== '')).toEqual([
      `warn: passwd-file line 2: no ":" after the user name (${file})`,
      `warn: passwd-file line 3: user listed more than once; refusing that user (${file})`,
      '2 warning(s): the daemon would start, but fix what they say first',
    ]);
    expect(result.stdout + result.stderr).not.toContain('{');
  });

  it('tries what the daemon will do in the socket directory, and names the fix when it cannot', async () => {
    // saslauthd's own layout (root:sasl 0710) is one the daemon's user cannot write; here, a directory the user may not write.
    const dir = path.join(tempDir(), 'saslauthd');
    mkdirSync(dir, { mode: 0o510 });
    chmodSync(dir, 0o510);
    const result = await runCliUnprivileged(['check', '-a', 'passwd-file', '-O', 'demo/passwd', '-m', dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^problem: socket ${dir}/mux: cannot create the socket ${dir}/mux: \\S+ may not write ${dir}\\. Give the directory to the daemon's user, with the socket's group: install -d -o \\S+ -g sasl -m 0710 ${dir}`, 'm'));
    const fine = await runCliUnprivileged(['check', '-a', 'passwd-file', '-O', 'demo/passwd', '-m', path.join(tempDir(), 'run')]);
    expect(fine.code, fine.stderr).toBe(0);
    expect(fine.stdout).toMatch(/^ok: socket .*\/run\/mux: \S+ can create it there$/m);
  });

  it('sees a daemon already answering on the socket, and still whether it could create its own there', async () => {
    const dir = tempDir();
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', 'demo/passwd', '-m', dir]);
    const result = await runCli(['check', '-a', 'passwd-file', '-O', 'demo/passwd', '-m', dir]);
    expect(result.stdout).toMatch(/a daemon answers there already/);
    expect(result.stdout).toMatch(/can create it there/);
    // The old saslauthd (root) answers in a directory this user may not write: found before the switch, not at it.
    chmodSync(dir, 0o555);
    const locked = await runCliUnprivileged(['check', '-a', 'passwd-file', '-O', 'demo/passwd', '-m', dir]);
    expect(locked.stdout).toMatch(/a daemon answers there already/);
    expect(locked.stderr).toMatch(new RegExp(`^problem: socket ${dir}/mux: cannot create the socket ${dir}/mux: \\S+ may not write ${dir}`, 'm'));
    expect(locked.code).toBe(1);
    chmodSync(dir, 0o700);
    await daemon.stop();
  });
});

describe('saslauthd-mysql check, -a mysql against a real server', () => {
  let server: ThrowawayServer;
  const DB_PASSWORD = 'db-Secret-9f3';
  const bcrypt = vector('libxcrypt', '$2b$ bcrypt', 'secret');
  const env = () => ({
    ...process.env,
    SASLAUTHD_MYSQL_DB_URL: `mysql://checker:${DB_PASSWORD}@127.0.0.1:${server.port}/postfix`,
    SASLAUTHD_MYSQL_DB_TABLE: 'mailbox',
    SASLAUTHD_MYSQL_DB_WHERE: 'active = 1',
  });

  beforeAll(async () => {
    server = await ThrowawayServer.create();
    await seedMailboxServer(server, [{ username: 'alice@example.org', password: bcrypt }], { user: 'checker', password: DB_PASSWORD });
  }, 60_000);
  afterAll(async () => server?.destroy());

  it('connects, runs the lookup, names the scheme; prints neither the stored value nor the database password', async () => {
    const probe = await runCli(['check', '-a', 'mysql', '-m', tempDir()], { env: env() });
    expect(probe.code, probe.stderr).toBe(0);
    expect(probe.stdout).toMatch(/^ok: mysql backend answers: lookup of a name no mailbox has \(service smtp\) came back "unknown"/m);
    const user = await runCli(['check', '-a', 'mysql', '-r', '-m', tempDir(), '--user', 'alice', '--realm', 'example.org'], { env: env() });
    expect(user.code, user.stderr).toBe(0);
    expect(user.stdout).toMatch(/stored value is BLF-CRYPT, verified in the slow pool/);
    for (const output of [probe, user]) {
      expect(output.stdout + output.stderr).not.toContain(DB_PASSWORD);
      expect(output.stdout + output.stderr).not.toContain(bcrypt);
    }
  }, 30_000);

  it('reports an unreachable database as a problem, without the password', async () => {
    await server.stop();
    try {
      const result = await runCli(['check', '-a', 'mysql', '-m', tempDir()], { env: env(), timeoutMs: 30_000 });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^problem: .*could not answer/m);
      expect(result.stdout + result.stderr).not.toContain(DB_PASSWORD);
    } finally {
      await server.start();
    }
  }, 40_000);
});

describe('saslauthd-mysql config', () => {
  it('prints what is not at its default, with where each value comes from, and masks the database passwords', async () => {
    const dir = tempDir();
    const conf = path.join(dir, 'mysql.conf');
    writeFileSync(conf, 'hosts = 127.0.0.1:3306\ndatabase = postfix\nuser = mail\npassword = Marker-Secret-1\ntable = mailbox\nrehash_to = SHA512-CRYPT\nrehash_user = writer\nrehash_password = Marker-Secret-2\n', { mode: 0o600 });
    const result = await runCli(['config', '-a', 'mysql', '-O', conf, '-r', '-m', path.join(dir, 'run')], {
      env: { ...process.env, SASLAUTHD_MYSQL_THROTTLE_AFTER: '3', SASLAUTHD_MYSQL_DB_USER: 'other', SASLAUTHD_MYSQL_THROTTLE_STORE: 'redis://sasl:Marker-Secret-3@10.0.0.5:6379/2' },
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toContain('Marker-Secret-1');
    expect(result.stdout).not.toContain('Marker-Secret-2');
    const lines = result.stdout.split('\n').map((line) => line.replace(/\s+#/, ' #'));
    expect(lines).toContain('--mech = mysql # command line (-a)');
    expect(lines).toContain('--realm-join = yes # command line (-r)');
    expect(lines).toContain('--throttle-after = 3 # SASLAUTHD_MYSQL_THROTTLE_AFTER');
    expect(lines).toContain(`hosts = 127.0.0.1:3306 # ${conf}:1`);
    // The environment wins over the file, as in the daemon.
    expect(lines).toContain('user = other # SASLAUTHD_MYSQL_DB_USER');
    expect(lines).toContain(`password = ******** (masked) # ${conf}:4`);
    expect(lines).toContain(`rehash_password = ******** (masked) # ${conf}:8`);
    expect(result.stdout).not.toContain('Marker-Secret-3');
    expect(lines).toContain('--throttle-store = redis://sasl:********@10.0.0.5:6379/2 # SASLAUTHD_MYSQL_THROTTLE_STORE');
    expect(result.stdout).not.toMatch(/--answer-timeout/);
  });

  it('checks the configuration first, as the daemon would', async () => {
    const result = await runCli(['config', '-a', 'passwd-file', '-O', 'demo/passwd', '--max-connections', 'lots']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('problem: configuration: --max-connections: expected a whole number (the value is not repeated here, in case it is a secret given to the wrong setting)\n');
  });
});
