/**
 * A real Cyrus IMAP server (Debian's cyrus-imapd and cyrus-pop3d), run from a
 * private configuration on loopback ports of its own: imapd, pop3d and
 * timsieved, checking passwords through libsasl2's saslauthd client on the
 * socket it is given. Nothing of the host's own Cyrus is touched: every
 * directory it uses is under the one it is given, and each service is told
 * the configuration file (-C), since Cyrus's services would otherwise read
 * /etc/imapd.conf.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { run } from './cli.js';
import { eventually } from './daemon.js';
import { freePort } from './throwaway-mariadb.js';

const BIN = '/usr/lib/cyrus/bin';

/** What is missing for the Cyrus suite, as install instructions. The suite fails on these: it never skips. */
export function cyrusSuiteProblems(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('it must run as root (Cyrus master starts its services as user cyrus)');
  for (const [file, pkg] of [
    ['master', 'cyrus-imapd'],
    ['imapd', 'cyrus-imapd'],
    ['timsieved', 'cyrus-imapd'],
    ['pop3d', 'cyrus-pop3d'],
    ['imtest', 'cyrus-clients'],
  ] as const) {
    if (!existsSync(path.join(BIN, file))) problems.push(`${BIN}/${file} is missing (apt-get install -y ${pkg})`);
  }
  return problems;
}

export interface CyrusInstance {
  readonly ports: { readonly imap: number; readonly pop3: number; readonly sieve: number };
  /** The cyrus user's primary group: the saslauthd socket must let it in. */
  readonly group: string;
  stop(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startCyrus(dir: string, saslauthdPath: string): Promise<CyrusInstance> {
  const uid = Number(execFileSync('id', ['-u', 'cyrus'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'cyrus'], { encoding: 'utf8' }).trim());
  const group = execFileSync('id', ['-gn', 'cyrus'], { encoding: 'utf8' }).trim();
  // The services run as cyrus: they must get through to their own directories.
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const data = path.join(dir, 'cyrus');
  for (const sub of ['config', 'spool', 'sieve', 'proc', 'lock', 'socket']) {
    mkdirSync(path.join(data, sub), { recursive: true });
    chownSync(path.join(data, sub), uid, gid);
  }
  chownSync(data, uid, gid);
  const ports = { imap: await freePort(), pop3: await freePort(), sieve: await freePort() };
  const conf = path.join(dir, 'imapd.conf');
  writeFileSync(
    conf,
    [
      `configdirectory: ${data}/config`,
      `partition-default: ${data}/spool`,
      `sievedir: ${data}/sieve`,
      `proc_path: ${data}/proc`,
      `mboxname_lockpath: ${data}/lock`,
      `lmtpsocket: ${data}/socket/lmtp`,
      `idlesocket: ${data}/socket/idle`,
      `notifysocket: ${data}/socket/notify`,
      'servername: cyrus-test',
      // The setup the README documents: libsasl2's saslauthd client on our socket, users as user@domain.
      'sasl_pwcheck_method: saslauthd',
      `sasl_saslauthd_path: ${saslauthdPath}`,
      'sasl_mech_list: PLAIN LOGIN',
      'allowplaintext: yes',
      'virtdomains: userid',
      'autocreate_quota: 0',
      'syslog_prefix: cyrus-test',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const cyrusConf = path.join(dir, 'cyrus.conf');
  writeFileSync(
    cyrusConf,
    `START {\n  recover cmd="ctl_cyrusdb -C ${conf} -r"\n}\nSERVICES {\n` +
      `  imap cmd="imapd -C ${conf}" listen="127.0.0.1:${ports.imap}" prefork=0\n` +
      `  pop3 cmd="pop3d -C ${conf}" listen="127.0.0.1:${ports.pop3}" prefork=0\n` +
      `  sieve cmd="timsieved -C ${conf}" listen="127.0.0.1:${ports.sieve}" prefork=0\n}\nEVENTS {\n}\n`,
    { mode: 0o644 },
  );
  // Its own process group, so that stopping it takes the services it started too.
  const master: ChildProcess = spawn(path.join(BIN, 'master'), ['-C', conf, '-M', cyrusConf, '-p', path.join(dir, 'master.pid'), '-D'], { detached: true, stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => master.once('exit', () => resolve()));
  await eventually(async () => (await portOpen(ports.imap)) && (await portOpen(ports.pop3)) && (await portOpen(ports.sieve)), 15_000, 100);
  return {
    ports,
    group,
    async stop() {
      if (master.exitCode === null && master.signalCode === null) process.kill(-master.pid!, 'SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (master.exitCode === null && master.signalCode === null) process.kill(-master.pid!, 'SIGKILL');
    },
  };
}

/** Log in with Cyrus's own test client (imtest, pop3test, sivtest); true when it says "Authenticated.". */
export async function cyrusLogin(client: 'imtest' | 'pop3test' | 'sivtest', port: number, user: string, password: string, mech: 'PLAIN' | 'LOGIN'): Promise<boolean> {
  const result = await run(path.join(BIN, client), ['-a', user, '-w', password, '-m', mech, '-p', String(port), '127.0.0.1'], { timeoutMs: 15_000, stdin: client === 'imtest' ? 'a LOGOUT\r\n' : client === 'pop3test' ? 'QUIT\r\n' : 'LOGOUT\r\n' });
  return /^Authenticated\.$/m.test(result.stdout + result.stderr);
}
