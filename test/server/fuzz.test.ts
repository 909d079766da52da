/**
 * The running daemon (the real process) under property-based fuzzing: each
 * case opens several connections at once and sends random, mutated, split,
 * dribbled or abandoned frames. Invariants:
 *   - the process never dies, and a real login still works afterwards;
 *   - OK only ever answers a right password (judged by an independent reading of the frame);
 *   - every reply is one well-formed frame, OK or NO..., or nothing at all;
 *   - every connection is closed by the daemon within the read deadline (plus answer time);
 *   - afterwards, no descriptor is left open and peak memory stayed bounded.
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnDaemon, type DaemonProcess } from '../helpers/cli.js';
import { DEMO_HASH, eventually } from '../helpers/daemon.js';
import { counted, fuzzParameters, fuzzRuns, mutatedFrameArb, referenceParse, splitArb, wellFormedFrameArb } from '../helpers/fuzz.js';
import { parseReply } from '../helpers/mux-client.js';
import { requestFrame } from '../helpers/index.js';
import { tempDir } from '../helpers/temp.js';
import { openSockets, peakRssMb } from '../helpers/proc.js';

const READ_TIMEOUT_MS = 300;
/** Time to answer a complete request (a hash, a throttle delay of at most 200 ms) on a busy CI machine. */
const ANSWER_MARGIN_MS = 2500;
const RIGHT = [
  { login: 'demo', realm: 'example.org', password: 'demo' },
  { login: 'demo@example.org', realm: '', password: 'demo' },
  { login: 'plain', realm: '', password: 'pw' },
];
const PLAUSIBLE = ['demo', 'demo@example.org', 'example.org', 'smtp', 'imap', 'plain', 'pw', '', '192.0.2.7;25000'];

let daemon: DaemonProcess;
let socketPath: string;
let baselineSockets: number;

const sockets = () => openSockets(daemon.child.pid!);

beforeAll(async () => {
  const dir = tempDir();
  const passwd = path.join(dir, 'passwd');
  writeFileSync(passwd, `demo@example.org:${DEMO_HASH}\nplain:{PLAIN}pw\n`);
  daemon = await spawnDaemon(['-a', 'passwd-file', '-O', passwd, '-r', '-m', dir, '--read-timeout', String(READ_TIMEOUT_MS), '--throttle-max-delay', '200'], { forSuite: true });
  socketPath = path.join(dir, 'mux');
  baselineSockets = sockets();
});

afterAll(async () => {
  await daemon?.stop();
});

interface Attack {
  readonly frame: Buffer;
  readonly chunks: Buffer[];
  readonly gapMs: number;
  /** Hang up right after the last write instead of waiting for the daemon. */
  readonly hangUp: boolean;
}

const rightFrameArb = fc.constantFrom(...RIGHT).map((r) => requestFrame({ login: r.login, password: r.password, service: 'smtp', realm: r.realm }));
const frameArb = mutatedFrameArb(fc.oneof(rightFrameArb, wellFormedFrameArb(PLAUSIBLE), wellFormedFrameArb(PLAUSIBLE).map((f) => Buffer.concat([f, counted(Buffer.from('203.0.113.9;1'))]))));
const attackArb: fc.Arbitrary<Attack> = frameArb.chain((frame) =>
  fc.record({ frame: fc.constant(frame), chunks: splitArb(frame), gapMs: fc.constantFrom(0, 0, 1, 20), hangUp: fc.constantFrom(false, false, false, true) }),
);

/** Whether an OK could be right for this frame: its first four fields carry a real user's password. */
function mayBeOk(frame: Buffer): boolean {
  const [login, password, , realm] = referenceParse(frame).fields;
  if (!login || !password || realm === undefined) return false;
  return RIGHT.some((r) => login.equals(Buffer.from(r.login)) && password.equals(Buffer.from(r.password)) && realm.equals(Buffer.from(r.realm)));
}

function attack({ chunks, gapMs, hangUp }: Attack): Promise<{ received: Buffer; closedAfterMs: number; hungUp: boolean }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const received: Buffer[] = [];
    const socket = net.connect({ path: socketPath, allowHalfOpen: true });
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`daemon kept a connection open for ${READ_TIMEOUT_MS + ANSWER_MARGIN_MS + 5000} ms`));
    }, READ_TIMEOUT_MS + ANSWER_MARGIN_MS + 5000);
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('end', () => socket.destroy());
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(guard);
      resolve({ received: Buffer.concat(received), closedAfterMs: performance.now() - started, hungUp: hangUp });
    });
    // The writes are paced; nothing awaits this callback, and each step checks the socket first.
    socket.once('connect', () => void (async () => {
      for (const chunk of chunks) {
        if (socket.destroyed) return;
        socket.write(chunk);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
      if (hangUp) socket.destroy();
    })());
  });
}

describe('the daemon process, fuzzed', () => {
  it('never dies, never says OK to a wrong password, answers in one frame or not at all, and closes every connection in time', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(attackArb, { minLength: 1, maxLength: 8 }), async (attacks) => {
        const outcomes = await Promise.all(attacks.map(attack));
        outcomes.forEach((outcome, i) => {
          const frame = attacks[i]!.frame;
          if (outcome.hungUp) return;
          expect(outcome.closedAfterMs).toBeLessThan(READ_TIMEOUT_MS + ANSWER_MARGIN_MS);
          if (outcome.received.length === 0) return;
          const reply = parseReply(outcome.received);
          expect(reply, `bytes ${outcome.received.toString('hex')}`).toBeDefined();
          expect(outcome.received.length).toBe(2 + outcome.received.readUInt16BE(0));
          expect(reply === 'OK' || reply!.startsWith('NO')).toBe(true);
          if (reply === 'OK') expect(mayBeOk(frame), `OK for ${frame.toString('hex')}`).toBe(true);
        });
        expect(daemon.child.exitCode).toBeNull();
      }),
      fuzzParameters(30),
    );

    expect(daemon.child.exitCode).toBeNull();
    // A real client still gets its answer.
    const right = await attack({ frame: Buffer.alloc(0), chunks: [requestFrame({ login: 'plain', password: 'pw', service: 'smtp', realm: '' })], gapMs: 0, hangUp: false });
    expect(parseReply(right.received)).toBe('OK');
    // Nothing held: every connection's socket is closed again.
    await eventually(() => sockets() <= baselineSockets, 5000);
    expect(peakRssMb(daemon.child.pid!)).toBeLessThan(150);
  }, 60_000 + fuzzRuns(30) * 2_000);
});
