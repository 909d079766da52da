/**
 * Property-based attacks on the Dovecot-protocol listener, as fuzz.test.ts
 * does for the mux socket: valid sessions cut into random pieces must get the
 * same answers as whole lines; garbage, bad escapes and over-long lines must
 * never crash the daemon, never get an OK for a wrong password, and never
 * stop the next client from being served. The replies are judged by a reader
 * of the line format written here, independent of the daemon's codec.
 */
import net from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEMO_HASH, startTestDaemon } from '../helpers/daemon.js';
import { fuzzParameters } from '../helpers/fuzz.js';
import { tempDir } from '../helpers/temp.js';

const USERS: Readonly<Record<string, string>> = { 'alice@example.org': 'demo', 'bob@example.org': 'demo' };
const b64 = (bytes: Buffer | string) => Buffer.from(bytes).toString('base64');

/** Send the chunks with a pause between each, and collect every reply line until `done` says so or the server closes. */
function converse(socketPath: string, chunks: readonly Buffer[], done: (lines: readonly string[]) => boolean, timeoutMs = 4000): Promise<{ lines: string[]; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect({ path: socketPath });
    let text = '';
    let closed = false;
    const lines = () => text.split('\n').slice(0, -1);
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ lines: lines(), closed });
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (done(lines())) finish();
    });
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      void (async () => {
        for (const chunk of chunks) {
          if (socket.destroyed) return;
          socket.write(chunk);
          await new Promise((r) => setImmediate(r));
        }
      })();
    });
  });
}

/** The independent reading: id → the answer line's command and fields, for the lines after DONE. */
function answers(lines: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of lines.slice(lines.indexOf('DONE') + 1)) {
    const [command = '', id = '', ...fields] = line.split('\t');
    if (command === 'OK' || command === 'FAIL') out.set(id, [command, ...fields]);
  }
  return out;
}

/** Cut a byte string into pieces at the given points. */
function cut(bytes: Buffer, points: readonly number[]): Buffer[] {
  const sorted = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const point of sorted) {
    pieces.push(bytes.subarray(from, point));
    from = point;
  }
  pieces.push(bytes.subarray(from));
  return pieces.filter((piece) => piece.length > 0);
}

async function start() {
  const dovecotSocket = path.join(tempDir(), 'auth');
  await startTestDaemon(
    Object.keys(USERS).map((user) => `${user}:${DEMO_HASH}`),
    { dovecotSocket, throttleAfter: '0' },
  );
  return dovecotSocket;
}

const requestArb = fc.record({
  user: fc.constantFrom('alice@example.org', 'bob@example.org', 'nobody@example.org'),
  password: fc.constantFrom('demo', 'wrong', 'DEMO'),
});

describe('the Dovecot-protocol listener under random input', () => {
  it('answers a session cut into any pieces exactly as the whole lines: one answer per id, OK only for the right password, with the user', async () => {
    const socket = await start();
    await fc.assert(
      fc.asyncProperty(fc.array(requestArb, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(2000), { maxLength: 12 }), async (requests, points) => {
        const session = Buffer.from(
          ['VERSION\t1\t0', 'CPID\t1', ...requests.map((r, i) => `AUTH\t${i + 1}\tPLAIN\tservice=smtp\tresp=${b64(`\0${r.user}\0${r.password}`)}`)].map((line) => `${line}\n`).join(''),
        );
        const { lines } = await converse(socket, cut(session, points), (seen) => answers(seen).size === requests.length);
        const got = answers(lines);
        expect(got.size).toBe(requests.length);
        requests.forEach((r, i) => {
          const right = USERS[r.user] === r.password;
          expect(got.get(String(i + 1))).toEqual(right ? ['OK', `user=${r.user}`] : ['FAIL', 'reason=authentication failed']);
        });
      }),
      fuzzParameters(30),
    );
  }, 120_000);

  it('never dies and never says OK to garbage, bad escapes or over-long lines, and serves the next client', async () => {
    const socket = await start();
    const hostile = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
      fc.constantFrom('AUTH\t1\tPLAIN\tresp=\u0001x\n', 'AUTH\tx\tPLAIN\n', 'CONT\t5\tAAAA\n', 'AUTH\t1\tPLAIN\tresp=AAAA\n', 'VERSION\t2\t0\n').map((line) => Buffer.from(line)),
      fc.nat(20_000).map((length) => Buffer.from(`AUTH\t1\tPLAIN\tservice=smtp\tresp=${'A'.repeat(length)}\n`)),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 4 }), async (pieces) => {
        const { lines } = await converse(socket, [Buffer.from('VERSION\t1\t0\nCPID\t1\n'), ...pieces], () => false, 300);
        expect(lines.some((line) => line.startsWith('OK\t'))).toBe(false);
      }),
      fuzzParameters(30),
    );
    const after = await converse(socket, [Buffer.from(`VERSION\t1\t0\nCPID\t1\nAUTH\t1\tPLAIN\tservice=smtp\tresp=${b64('\0alice@example.org\0demo')}\n`)], (seen) => answers(seen).size === 1);
    expect(answers(after.lines).get('1')).toEqual(['OK', 'user=alice@example.org']);
  }, 120_000);
});
