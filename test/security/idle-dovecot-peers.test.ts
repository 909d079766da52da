/**
 * Attack: local users open the Dovecot-protocol listener's every connection
 * and hold them idle, so that Postfix (smtpd_sasl_type = dovecot) and
 * doveadm cannot connect. One peer (one local user) may hold only its share,
 * and at the cap the connection idle the longest makes room: a Postfix smtpd
 * finds its own idle connection closed and connects again, losing no login.
 * Against the real process, with a real Postfix and doveadm. Needs root.
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { DEMO_HASH, eventually } from '../helpers/daemon.js';
import { idlePeer } from '../helpers/idle-peers.js';
import { freePort } from '../helpers/mysql.js';
import { postfixSuiteProblems, startPostfix, swaksAuth, type PostfixInstance } from '../helpers/postfix.js';
import { suiteTempDir } from '../helpers/temp.js';

const DOVEADM = '/usr/bin/doveadm';
const NOBODY = 65_534;
const DAEMON = 1;
const BIN = 2;
const SYS = 3;
/** The daemon's idle threshold for eviction, and a margin. */
const IDLE_MS = 1_300;

let postfix: PostfixInstance;
let port: number;
let auth: string;
let cleanup: () => void;
let daemon: DaemonProcess;

beforeAll(async () => {
  const problems = postfixSuiteProblems();
  if (!existsSync(DOVEADM)) problems.push('doveadm is missing (apt-get install -y dovecot-core)');
  if (problems.length > 0) throw new Error(`this suite cannot run: ${problems.join('; ')}`);
  const { dir, remove } = suiteTempDir();
  cleanup = remove;
  chmodSync(dir, 0o755);
  const passwd = path.join(dir, 'passwd');
  writeFileSync(passwd, `alice@example.org:${DEMO_HASH}\n`);
  auth = path.join(dir, 'auth');
  // Six connections, three per peer (the default: half); every local user may connect (mode 0666 in a 0755 directory).
  daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-m', path.join(dir, 'run'), '--dovecot-socket', auth, '--max-connections', '6'], { forSuite: true });
  port = await freePort();
  postfix = await startPostfix({ dir: path.join(dir, 'postfix'), saslauthdPath: path.join(dir, 'run', 'mux'), listeners: [{ port, overrides: { smtpd_sasl_type: 'dovecot', smtpd_sasl_path: auth } }] });
}, 90_000);

afterAll(async () => {
  await postfix?.stop();
  await daemon?.stop();
  cleanup?.();
}, 60_000);

async function postfixLogin(): Promise<number | undefined> {
  const result = await swaksAuth({ port, mechanism: 'PLAIN', user: 'alice@example.org', password: 'demo' });
  if (result.code !== 235) process.stderr.write(`${result.transcript}\n--- postfix log ---\n${postfix.maillog().slice(-2000)}\n`);
  return result.code;
}

async function doveadmLogin(): Promise<number | null> {
  return (await run(DOVEADM, ['auth', 'test', '-a', auth, 'alice@example.org', 'demo'])).code;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Connect over TCP and do the handshake; resolves with the socket and whether the daemon keeps it (not closed within `graceMs`). */
function tcpPeer(tcpPort: number, graceMs: number): Promise<{ readonly socket: net.Socket; readonly kept: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(tcpPort, '127.0.0.1');
    let closed = false;
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.on('close', () => (closed = true));
    socket.on('connect', () => socket.write('VERSION\t1\t0\nCPID\t1\n'));
    setTimeout(() => resolve({ socket, kept: !closed }), graceMs);
  });
}

describe('idle peers on the Dovecot listener', () => {
  it('over TCP, one address holds at most its share', async () => {
    const dir = suiteTempDir();
    const passwd = path.join(dir.dir, 'passwd');
    writeFileSync(passwd, `alice@example.org:${DEMO_HASH}\n`);
    const tcp = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-m', path.join(dir.dir, 'run'), '--dovecot-listen', '0', '--max-connections', '4']);
    const tcpPort = Number(String(tcp.records().find((r) => r.msg === 'listening')?.dovecotListen).split(':').at(-1));
    const peers = [];
    for (let i = 0; i < 4; i += 1) peers.push(await tcpPeer(tcpPort, 200));
    expect(peers.map((peer) => peer.kept)).toEqual([true, true, false, false]);
    for (const peer of peers) peer.socket.destroy();
    await tcp.stop();
    dir.remove();
  }, 30_000);

  it('one local user holds at most its share: Postfix and doveadm still get in', async () => {
    const greedy = idlePeer(auth, NOBODY, 10, { reconnect: true });
    await eventually(() => greedy.open() === 3, 5_000, 50);
    await sleep(IDLE_MS);
    expect(greedy.open()).toBe(3);
    expect(await postfixLogin()).toBe(235);
    expect(await doveadmLogin()).toBe(0);
    expect(daemon.records().some((r) => Number(r.overPeerLimit) > 0)).toBe(true);
    greedy.stop();
  }, 60_000);

  it('at the cap, the longest-idle connection makes room, and a Postfix whose own idle connection went connects again without losing a login', async () => {
    await sleep(IDLE_MS);
    // Two local users take every place and hold it.
    const first = idlePeer(auth, DAEMON, 3);
    const second = idlePeer(auth, BIN, 3);
    await eventually(() => first.open() + second.open() === 6, 5_000, 50);
    await sleep(IDLE_MS);
    expect(await postfixLogin()).toBe(235);
    expect(await doveadmLogin()).toBe(0);
    // Two more users take every place again: every older connection goes, Postfix's idle one too.
    await sleep(IDLE_MS);
    const third = idlePeer(auth, SYS, 3);
    const fourth = idlePeer(auth, NOBODY, 3);
    await eventually(() => third.open() + fourth.open() === 6, 5_000, 50);
    expect(first.open() + second.open()).toBe(0);
    await sleep(IDLE_MS);
    // Postfix's smtpd finds its connection closed, connects again, and is let in.
    expect(await postfixLogin()).toBe(235);
    expect(await postfixLogin()).toBe(235);
    expect(daemon.records().filter((r) => r.msg !== undefined && String(r.msg).startsWith('connection limit reached')).reduce((sum, r) => sum + Number(r.evicted), 0)).toBeGreaterThanOrEqual(6);
    for (const peer of [first, second, third, fourth]) peer.stop();
  }, 60_000);
});
