/**
 * Slow and idle peers against the real daemon process: a thousand connections
 * open and silent or dribbling a byte a second, peers that never read their
 * reply, and a flood past the connection cap. Real logins must still be
 * answered promptly, the read deadline and the cap must hold, and nothing
 * may stay pinned afterwards.
 */
import net from 'node:net';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { DEMO_HASH, eventually } from '../helpers/daemon.js';
import { requestFrame } from '../helpers/index.js';
import { exchange } from '../helpers/mux-client.js';
import { openFileLimit, openSockets } from '../helpers/proc.js';
import { tempDir } from '../helpers/temp.js';
import { dovecotPlainLogin } from '../helpers/dovecot-client.js';

const READ_TIMEOUT_MS = 3000;
const PEERS = 1000;
/** "Promptly": a login answered while the flood is open, on a shared 2-core machine. */
const PROMPT_MS = 1000;

async function startDaemon(extra: string[]): Promise<{ daemon: DaemonProcess; socketPath: string; sockets: () => number }> {
  if (openFileLimit() < 2 * PEERS + 500) throw new Error(`open-file limit ${openFileLimit()} is too low for ${PEERS} peers: raise it (ulimit -n ${4 * PEERS})`);
  const dir = tempDir();
  const passwd = path.join(dir, 'passwd');
  writeFileSync(passwd, `demo@example.org:${DEMO_HASH}\n`);
  // The peers and the real logins all come from this process, one peer: the limit per peer (test/security/idle-dovecot-peers.test.ts) is not the subject here.
  const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-r', '-m', dir, '--read-timeout', String(READ_TIMEOUT_MS), '--max-connections-per-peer', '100000', ...extra]);
  return { daemon, socketPath: path.join(dir, 'mux'), sockets: () => openSockets(daemon.child.pid!) };
}

interface Peer {
  readonly socket: net.Socket;
  readonly openedAt: number;
  /** When the daemon closed it. */
  readonly closedAt: Promise<number>;
}

/** How long one peer may keep finding the listen backlog full before the test gives up on it. */
const CONNECT_DEADLINE_MS = 10_000;

/** Connect one peer; a full listen backlog (EAGAIN on a UNIX socket) is retried, anything else fails the test. */
function connectPeer(socketPath: string, dribbleMs: number | undefined, deadline: number): Promise<Peer> {
  return new Promise<Peer>((resolve, reject) => {
    const socket = net.connect({ path: socketPath });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EAGAIN' || performance.now() > deadline) return reject(error);
      setTimeout(() => void connectPeer(socketPath, dribbleMs, deadline).then(resolve, reject), 20);
    });
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      socket.on('error', () => undefined);
      socket.on('data', () => undefined);
      const closedAt = new Promise<number>((done) => socket.on('close', () => done(performance.now())));
      if (dribbleMs) {
        const frame = requestFrame({ login: 'demo', password: 'demo', service: 'smtp', realm: 'example.org' });
        let sent = 0;
        const timer = setInterval(() => (socket.destroyed ? clearInterval(timer) : socket.write(frame.subarray(sent, ++sent))), dribbleMs);
        socket.on('close', () => clearInterval(timer));
      }
      resolve({ socket, openedAt: performance.now(), closedAt });
    });
  });
}

/** Open peers in batches (the listen backlog is finite), each silent or dribbling a byte every `dribbleMs`. */
async function openPeers(socketPath: string, count: number, dribbleMs?: number): Promise<Peer[]> {
  const peers: Peer[] = [];
  for (let start = 0; start < count; start += 100) {
    const deadline = performance.now() + CONNECT_DEADLINE_MS;
    const batch = Array.from({ length: Math.min(100, count - start) }, () => connectPeer(socketPath, dribbleMs, deadline));
    peers.push(...(await Promise.all(batch)));
  }
  return peers;
}

async function timedLogin(socketPath: string): Promise<{ reply: string | undefined; ms: number }> {
  const started = performance.now();
  const { reply } = await exchange(socketPath, requestFrame({ login: 'demo', password: 'demo', service: 'smtp', realm: 'example.org' }));
  return { reply, ms: performance.now() - started };
}

describe('slow and idle peers (the real process)', () => {
  it(`with ${PEERS} connections silent or dribbling, real logins are answered promptly and every stalled peer is dropped at the deadline`, async () => {
    const { daemon, socketPath, sockets } = await startDaemon(['--max-connections', String(PEERS + 200)]);
    const baseline = sockets();
    const silent = await openPeers(socketPath, PEERS - 200);
    const dribbling = await openPeers(socketPath, 200, 1000);
    await eventually(() => sockets() >= baseline + PEERS, 5000);

    const sequential = [];
    for (let i = 0; i < 10; i += 1) sequential.push(await timedLogin(socketPath));
    const concurrent = await Promise.all(Array.from({ length: 20 }, () => timedLogin(socketPath)));
    const logins = [...sequential, ...concurrent];
    expect(logins.map((l) => l.reply)).toEqual(Array(30).fill('OK'));
    const slowest = Math.max(...logins.map((l) => l.ms));
    process.stderr.write(`[idle peers] ${PEERS} stalled connections open: 30 logins, slowest ${slowest.toFixed(1)} ms\n`);
    expect(slowest).toBeLessThan(PROMPT_MS);

    // The deadline is absolute: silent and dribbling peers alike are closed by it, not later.
    const lifetimes = await Promise.all([...silent, ...dribbling].map(async (peer) => (await peer.closedAt) - peer.openedAt));
    expect(Math.max(...lifetimes)).toBeLessThan(READ_TIMEOUT_MS + 1500);
    expect(Math.min(...lifetimes)).toBeGreaterThan(READ_TIMEOUT_MS - 100);
    await eventually(() => sockets() <= baseline, 3000);
    expect(daemon.child.exitCode).toBeNull();
    await daemon.stop();
  }, 60_000);

  it('past the cap, the daemon never holds more than the cap, and a real login still gets in', async () => {
    const cap = 200;
    const { daemon, socketPath, sockets } = await startDaemon(['--max-connections', String(cap)]);
    const baseline = sockets();
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, sockets() - baseline)), 20);
    // Also on a timeout, when the finally below never runs: a sampler outliving its daemon would read a vanished /proc entry.
    onTestFinished(() => clearInterval(sampler));
    try {
      const flood = await openPeers(socketPath, PEERS);
      // A connect returns once the connection is in the listen backlog, before the daemon accepts
      // it. The daemon has taken what it will take once every connection past the cap has been
      // closed (refused, or evicted by a later one); the ones left then wait long enough to count
      // as stalled. A login sent earlier would queue behind the backlog and, under CPU load, meet
      // a room of connections too fresh to give way.
      let closed = 0;
      for (const peer of flood) void peer.closedAt.then(() => (closed += 1));
      await eventually(() => peak >= cap && PEERS - closed <= cap, 15_000, 20);
      await new Promise((r) => setTimeout(r, 150));
      const login = await timedLogin(socketPath);
      expect(login.reply).toBe('OK');
      expect(login.ms).toBeLessThan(PROMPT_MS);
      // Held connections never exceed the cap once the turn that shed the extra ones is over.
      for (let i = 0; i < 3; i += 1) {
        expect(sockets() - baseline).toBeLessThanOrEqual(cap);
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const peer of flood) peer.socket.destroy();
    } finally {
      clearInterval(sampler);
    }
    // A shed connection is accepted, then closed at once; its descriptor goes within the same event-loop turn.
    process.stderr.write(`[idle peers] cap ${cap}, ${PEERS} peers: at most ${peak} sockets held at any sample\n`);
    expect(peak).toBeLessThanOrEqual(cap + 32);
    await eventually(() => daemon.output().includes('connection limit reached'), 3000);
    await daemon.stop();
  }, 60_000);

  it('peers that send a request and never read the reply, nor close, pin nothing', async () => {
    const { daemon, socketPath, sockets } = await startDaemon([]);
    const baseline = sockets();
    const frame = requestFrame({ login: 'demo', password: 'demo', service: 'smtp', realm: 'example.org' });
    const peers = await openPeers(socketPath, 300);
    for (const peer of peers) {
      peer.socket.pause();
      peer.socket.write(frame);
    }
    // Each reply is left in the kernel's buffer and the daemon's side is closed, long before any deadline.
    const started = performance.now();
    await eventually(() => sockets() <= baseline, READ_TIMEOUT_MS);
    process.stderr.write(`[idle peers] 300 non-reading peers released in ${(performance.now() - started).toFixed(0)} ms\n`);
    expect((await timedLogin(socketPath)).reply).toBe('OK');
    for (const peer of peers) peer.socket.destroy();
    await daemon.stop();
  }, 30_000);
});

describe("slow and idle peers on the Dovecot protocol's socket (the real process)", () => {
  it('silent peers are dropped at the handshake deadline, a peer dribbling a line at the read deadline, a handshaken idle one stays, and real logins are answered meanwhile', async () => {
    const dir = tempDir();
    const passwd = path.join(dir, 'passwd');
    writeFileSync(passwd, `demo@example.org:${DEMO_HASH}\n`);
    const auth = path.join(dir, 'auth');
    const daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-r', '-m', path.join(dir, 'run'), '--read-timeout', String(READ_TIMEOUT_MS), '--dovecot-socket', auth, '--max-connections-per-peer', '100000']);
    const silent = await openPeers(auth, 300);
    // Handshaken, then a line that never ends: a byte every 200 ms.
    const dribbler = net.connect({ path: auth });
    dribbler.on('error', () => undefined);
    dribbler.on('data', () => undefined);
    const dribblerClosed = new Promise<number>((done) => dribbler.on('close', () => done(performance.now())));
    dribbler.write('VERSION\t1\t0\nCPID\t1\n');
    const line = Buffer.from('AUTH\t1\tPLAIN\tservice=smtp\tresp=AAAA');
    let sent = 0;
    const timer = setInterval(() => (dribbler.destroyed ? clearInterval(timer) : dribbler.write(line.subarray(sent % line.length, (sent++ % line.length) + 1))), 200);
    onTestFinished(() => clearInterval(timer));
    const idle = net.connect({ path: auth });
    idle.on('error', () => undefined);
    idle.on('data', () => undefined);
    let idleClosed = false;
    idle.on('close', () => (idleClosed = true));
    idle.write('VERSION\t1\t0\nCPID\t1\n');
    const dribbleStarted = performance.now();

    // A real login on the same socket, answered at once.
    const started = performance.now();
    const answer = await dovecotPlainLogin({ path: auth }, 'demo@example.org', 'demo');
    expect(answer).toMatch(/\nOK\t1\tuser=demo@example\.org\n/);
    expect(performance.now() - started).toBeLessThan(PROMPT_MS);

    const closedAt = await Promise.all(silent.map((peer) => peer.closedAt));
    silent.forEach((peer, i) => expect(closedAt[i]! - peer.openedAt).toBeLessThan(READ_TIMEOUT_MS + 2000));
    expect((await dribblerClosed) - dribbleStarted).toBeLessThan(READ_TIMEOUT_MS + 2000);
    expect(idleClosed).toBe(false);
    idle.destroy();
    await daemon.stop();
  }, 60_000);
});
