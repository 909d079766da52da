/**
 * The server over real UNIX sockets, with a test handler that records what it
 * was asked. Every protocol rule of the saslauthd mux socket has a test here.
 */
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LoginRequest } from '../../src/protocol/request.js';
import { MuxServer } from '../../src/protocol/server.js';
import { nativeUnixListener } from '../../src/protocol/native-unix-server.js';
import { NO_ANSWER, REPLY_OK, type Reply } from '../../src/protocol/replies.js';
import type { ConnectionTimeouts } from '../../src/protocol/connection.js';
import type { LoginHandler } from '../../src/protocol/answering.js';
import { bytes, fieldEnd, FrameBuilder, requestFrame } from '../helpers/index.js';
import { closed, exchange, openSilent } from '../helpers/mux-client.js';
import { logSink } from '../helpers/log-sink.js';
import { tempDir } from '../helpers/temp.js';

interface Seen {
  login: string;
  password: string;
  service: string;
  realm: string;
  clientAddress: string | undefined;
}

const FAST: ConnectionTimeouts = { readTimeoutMs: 400, answerTimeoutMs: 400, replyTimeoutMs: 400 };
const servers: MuxServer[] = [];
/** Which listener startServer puts the server on (set per describe.each case below). */
let useNative = true;

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close(0)));
});

async function startServer(options: { handler?: LoginHandler<Reply>; timeouts?: Partial<ConnectionTimeouts>; maxConnections?: number } = {}) {
  const seen: Seen[] = [];
  const sink = logSink();
  const record = (request: LoginRequest) =>
    seen.push({
      login: request.login.toString(),
      password: request.password.reveal().toString(),
      service: request.service.toString(),
      realm: request.realm.toString(),
      clientAddress: request.client?.sent,
    });
  const handler: LoginHandler<Reply> =
    options.handler ??
    (async (request) => {
      record(request);
      return request.password.reveal().toString() === 'right' ? REPLY_OK : { kind: 'answer', text: 'NO wrong' };
    });
  if (useNative && !nativeUnixListener()) throw new Error('the native listener is not built: npm run build (it needs g++, make and python3)');
  const server = new MuxServer({
    handler: async (request, cancellation, hold) => {
      if (options.handler) record(request);
      return handler(request, cancellation, hold);
    },
    timeouts: { ...FAST, ...options.timeouts },
    maxConnections: options.maxConnections ?? 64,
    // Every connection here is this process's: one peer, whose limit is not the subject of these tests.
    maxPerPeer: 100_000,
    logger: sink.logger,
    nativeUnixSockets: useNative,
  });
  const socketPath = path.join(tempDir(), 'mux');
  await server.listen({ path: socketPath });
  servers.push(server);
  return { server, socketPath, seen, sink };
}

// Every rule holds on both listeners: the native one (where the addon is built, as in CI) and net's.
describe.each([
  { listener: 'native', native: true },
  { listener: 'net', native: false },
])('on the $listener listener', ({ native }) => {
  beforeEach(() => {
    useNative = native;
  });

  describe('one request, one answer, then close', () => {
    it('answers a 4-field request and closes', async () => {
      const { socketPath, seen } = await startServer();
      const result = await exchange(socketPath, requestFrame({ login: 'alice', password: 'right', service: 'smtp', realm: 'example.org' }));
      expect(result.reply).toBe('OK');
      expect(result.received.length).toBe(4);
      expect(seen).toEqual([{ login: 'alice', password: 'right', service: 'smtp', realm: 'example.org', clientAddress: undefined }]);
    });

    it('answers a 4-field client at once, without waiting for a fifth field', async () => {
      const { socketPath } = await startServer({ timeouts: { readTimeoutMs: 10_000 } });
      const result = await exchange(socketPath, requestFrame({ password: 'right' }));
      expect(result.reply).toBe('OK');
      expect(result.closedAfterMs).toBeLessThan(2000);
    });

    it('takes the fifth field (client address) when it comes with the request', async () => {
      const { socketPath, seen } = await startServer();
      const result = await exchange(socketPath, requestFrame({ password: 'right', clientAddress: '192.0.2.1;4711' }));
      expect(result.reply).toBe('OK');
      expect(seen[0]?.clientAddress).toBe('192.0.2.1;4711');
    });

    it('waits for the rest of a fifth field that has started arriving', async () => {
      const { socketPath, seen } = await startServer({ timeouts: { readTimeoutMs: 3000 } });
      const frame = requestFrame({ password: 'right', clientAddress: '198.51.100.9;25' });
      const cut = fieldEnd(frame, 3) + 3;
      const result = await exchange(socketPath, [frame.subarray(0, cut), frame.subarray(cut)], { gapMs: 100 });
      expect(result.reply).toBe('OK');
      expect(seen[0]?.clientAddress).toBe('198.51.100.9;25');
    });

    it('answers NO for what the handler refuses', async () => {
      const { socketPath } = await startServer();
      expect((await exchange(socketPath, requestFrame({ password: 'wrong' }))).reply).toBe('NO wrong');
    });

    it('accepts empty service and realm', async () => {
      const { socketPath, seen } = await startServer();
      expect((await exchange(socketPath, requestFrame({ password: 'right', service: '', realm: '' }))).reply).toBe('OK');
      expect(seen[0]).toMatchObject({ service: '', realm: '' });
    });

    it('answers a request that arrives in many small pieces', async () => {
      const { socketPath } = await startServer({ timeouts: { readTimeoutMs: 5000 } });
      const frame = requestFrame({ password: 'right' });
      const pieces = [...frame].map((byte) => Buffer.from([byte]));
      expect((await exchange(socketPath, pieces, { gapMs: 2 })).reply).toBe('OK');
    });

    it('still answers a client that shuts down its write side after the request', async () => {
      const { socketPath } = await startServer();
      expect((await exchange(socketPath, requestFrame({ password: 'right' }), { endAfterSend: true })).reply).toBe('OK');
    });

    it('cancels the work of a client that hangs up, and still answers one that only half-closed, in two writes', async () => {
      let aborted = 0;
      const handler: LoginHandler<Reply> = (_request, cancellation) =>
        new Promise<Reply>((resolve) => {
          cancellation.signal.addEventListener('abort', () => aborted++);
          setTimeout(() => resolve(REPLY_OK), 300);
        });
      const { socketPath } = await startServer({ handler, timeouts: { answerTimeoutMs: 5000 } });
      const gone = await new Promise<number>((resolve) => {
        const started = performance.now();
        const socket = net.connect({ path: socketPath }, () => socket.write(requestFrame(), () => socket.destroy()));
        socket.on('close', () => resolve(performance.now() - started));
      });
      expect(gone).toBeLessThan(300);
      await waitFor(() => aborted === 1);
      const halfClosed = await exchange(socketPath, requestFrame(), { endAfterSend: true });
      expect(halfClosed.reply).toBe('OK');
      expect(aborted).toBe(1);
    });

    it('ignores bytes after the request and answers it', async () => {
      const { socketPath } = await startServer();
      const frame = Buffer.concat([requestFrame({ password: 'right', clientAddress: '::1;1' }), bytes(20_000)]);
      expect((await exchange(socketPath, frame)).reply).toBe('OK');
    });
  });

  describe("saslauthd's refusals", () => {
    const names = ['login', 'password', 'service', 'realm'];
    names.forEach((name, index) => {
      it(`answers "NO " and closes when the ${name} is longer than 256 bytes`, async () => {
        const { socketPath, seen } = await startServer();
        const builder = new FrameBuilder();
        for (let i = 0; i < 4; i += 1) builder.field(i === index ? bytes(257) : 'x');
        const result = await exchange(socketPath, builder.build());
        expect(result.reply).toBe('NO ');
        expect(seen).toEqual([]);
      });
    });

    it('answers "NO " as soon as an oversized length prefix arrives, without waiting for the body', async () => {
      const { socketPath } = await startServer({ timeouts: { readTimeoutMs: 10_000 } });
      const result = await exchange(socketPath, new FrameBuilder().declared(4000).build());
      expect(result.reply).toBe('NO ');
      expect(result.closedAfterMs).toBeLessThan(2000);
    });

    it('answers "NO NULL login received" to an empty login', async () => {
      const { socketPath, seen } = await startServer();
      expect((await exchange(socketPath, requestFrame({ login: '' }))).reply).toBe('NO NULL login received');
      expect(seen).toEqual([]);
    });

    it('answers "NO NULL password received" to an empty password', async () => {
      const { socketPath, seen } = await startServer();
      expect((await exchange(socketPath, requestFrame({ password: '' }))).reply).toBe('NO NULL password received');
      expect(seen).toEqual([]);
    });

    it('checks the login before the password, as saslauthd does', async () => {
      const { socketPath } = await startServer();
      expect((await exchange(socketPath, requestFrame({ login: '', password: '' }))).reply).toBe('NO NULL login received');
    });
  });

  describe('no reply', () => {
    it('sends nothing for a truncated request (EOF before all fields)', async () => {
      const { socketPath, seen } = await startServer({ timeouts: { readTimeoutMs: 5000 } });
      const frame = requestFrame();
      const result = await exchange(socketPath, frame.subarray(0, frame.length - 3), { endAfterSend: true });
      expect(result.received.length).toBe(0);
      expect(result.closedAfterMs).toBeLessThan(2000);
      expect(seen).toEqual([]);
    });

    it('drops a silent peer at the read deadline', async () => {
      const { socketPath } = await startServer({ timeouts: { readTimeoutMs: 300 } });
      const result = await exchange(socketPath, []);
      expect(result.received.length).toBe(0);
      expect(result.closedAfterMs).toBeGreaterThanOrEqual(250);
      expect(result.closedAfterMs).toBeLessThan(2000);
    });

    it('drops a peer that dribbles bytes: the deadline is absolute, not idle', async () => {
      const { socketPath, seen } = await startServer({ timeouts: { readTimeoutMs: 500 } });
      const frame = requestFrame({ password: 'right' });
      const pieces = [...frame].map((byte) => Buffer.from([byte]));
      const result = await exchange(socketPath, pieces, { gapMs: 100 });
      expect(result.received.length).toBe(0);
      expect(result.closedAfterMs).toBeLessThan(1500);
      expect(seen).toEqual([]);
    });

    it('closes without a reply when the handler says so (temporary failure)', async () => {
      const { socketPath } = await startServer({ handler: async () => NO_ANSWER });
      const result = await exchange(socketPath, requestFrame());
      expect(result.received.length).toBe(0);
    });

    it('closes without a reply when the handler throws, and keeps serving', async () => {
      let calls = 0;
      const { socketPath, sink } = await startServer({
        handler: async () => {
          calls += 1;
          if (calls === 1) throw new Error('boom');
          return REPLY_OK;
        },
      });
      expect((await exchange(socketPath, requestFrame())).received.length).toBe(0);
      expect((await exchange(socketPath, requestFrame())).reply).toBe('OK');
      expect(sink.records().some((r) => r.code === 'ERR_INTERNAL')).toBe(true);
    });

    it('closes without a reply when the handler misses the answer deadline, and aborts it', async () => {
      let aborted = false;
      const { socketPath, sink } = await startServer({
        timeouts: { answerTimeoutMs: 300 },
        handler: (_request, cancellation) =>
          new Promise<Reply>((resolve) => {
            cancellation.signal.addEventListener('abort', () => {
              aborted = true;
              setTimeout(() => resolve(REPLY_OK), 50);
            });
          }),
      });
      const result = await exchange(socketPath, requestFrame());
      expect(result.received.length).toBe(0);
      expect(result.closedAfterMs).toBeLessThan(2000);
      expect(aborted).toBe(true);
      expect(sink.records().some((r) => r.code === 'ERR_AUTH_TIMEOUT')).toBe(true);
    });

    it('wipes the password once the request is answered', async () => {
      let kept: LoginRequest | undefined;
      const { socketPath } = await startServer({
        handler: async (request) => {
          kept = request;
          return REPLY_OK;
        },
      });
      await exchange(socketPath, requestFrame({ password: 'wipe-me-please' }));
      expect(kept?.password.reveal().every((byte) => byte === 0)).toBe(true);
    });
  });

  describe('connection cap', () => {
    it('at the cap, a newcomer takes the place of the oldest stalled connection', async () => {
      const { server, socketPath, sink } = await startServer({ maxConnections: 2, timeouts: { readTimeoutMs: 5000 } });
      const oldest = await openSilent(socketPath);
      await waitFor(() => server.connectionCount === 1);
      const younger = await openSilent(socketPath);
      await waitFor(() => server.connectionCount === 2);
      // Only a connection silent for a while is taken for stalled.
      await new Promise((r) => setTimeout(r, 150));
      const answered = await exchange(socketPath, requestFrame({ password: 'right' }));
      expect(answered.reply).toBe('OK');
      await closed(oldest);
      expect(younger.destroyed).toBe(false);
      await waitFor(() => sink.records().some((r) => String(r.msg).includes('connection limit') && r.evicted === 1 && r.refused === 0));
      younger.destroy();
    });

    it('refuses a newcomer at once (temporary failure) when every open connection is being answered, and recovers', async () => {
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const handler: LoginHandler<Reply> = async () => {
        await gate;
        return REPLY_OK;
      };
      const { server, socketPath, sink } = await startServer({ maxConnections: 2, handler, timeouts: { readTimeoutMs: 5000, answerTimeoutMs: 5000 } });
      const busy = [exchange(socketPath, requestFrame()), exchange(socketPath, requestFrame())];
      await waitFor(() => server.connectionCount === 2);
      await new Promise((r) => setTimeout(r, 50));
      const refused = await exchange(socketPath, requestFrame({ password: 'right' }));
      expect(refused.received.length).toBe(0);
      expect(refused.closedAfterMs).toBeLessThan(1000);
      await waitFor(() => sink.records().some((r) => String(r.msg).includes('connection limit') && r.refused === 1));
      release();
      expect((await Promise.all(busy)).map((r) => r.reply)).toEqual(['OK', 'OK']);
      await waitFor(() => server.connectionCount === 0);
      expect((await exchange(socketPath, requestFrame({ password: 'right' }))).reply).toBe('OK');
    });

    it('keeps answers that wait on the throttle (held) out of the cap, in a room of the same size', async () => {
      let release: () => void = () => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      const handler: LoginHandler<Reply> = async (request, _cancellation, hold) => {
        if (request.login.toString() !== 'held') return REPLY_OK;
        if (!hold()) return NO_ANSWER;
        await released;
        return REPLY_OK;
      };
      const { server, socketPath } = await startServer({ maxConnections: 2, handler, timeouts: { readTimeoutMs: 5000, answerTimeoutMs: 5000 } });
      const held = [exchange(socketPath, requestFrame({ login: 'held' })), exchange(socketPath, requestFrame({ login: 'held' }))];
      await waitFor(() => server.heldCount === 2);
      // The room is full: a third held answer is turned away; a login that needs no holding is served.
      expect((await exchange(socketPath, requestFrame({ login: 'held' }))).reply).toBeUndefined();
      expect((await exchange(socketPath, requestFrame({ login: 'free' }))).reply).toBe('OK');
      release();
      expect((await Promise.all(held)).map((r) => r.reply)).toEqual(['OK', 'OK']);
      await waitFor(() => server.connectionCount === 0);
    });

    it('serves many concurrent clients', async () => {
      const { socketPath } = await startServer({ timeouts: { readTimeoutMs: 5000, answerTimeoutMs: 5000 } });
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => exchange(socketPath, requestFrame({ login: `u${i}`, password: i % 2 ? 'right' : 'wrong' }))));
      results.forEach((result, i) => expect(result.reply).toBe(i % 2 ? 'OK' : 'NO wrong'));
    });
  });

  describe('graceful close', () => {
    it('lets an in-flight request finish, drops idle connections, and stops accepting', async () => {
      let release: (() => void) | undefined;
      const { server, socketPath } = await startServer({
        timeouts: { readTimeoutMs: 5000, answerTimeoutMs: 5000 },
        handler: () => new Promise<Reply>((resolve) => (release = () => resolve(REPLY_OK))),
      });
      const idle = await openSilent(socketPath);
      const inFlight = exchange(socketPath, requestFrame());
      await waitFor(() => release !== undefined);
      const closing = server.close(5000);
      await closed(idle);
      setTimeout(() => release?.(), 100);
      expect((await inFlight).reply).toBe('OK');
      await closing;
      await expect(exchange(socketPath, requestFrame())).rejects.toThrow();
    });

    it('cuts what is still running when the grace period is over', async () => {
      const { server, socketPath } = await startServer({
        timeouts: { readTimeoutMs: 5000, answerTimeoutMs: 60_000 },
        handler: () => new Promise<Reply>(() => undefined),
      });
      const stuck = exchange(socketPath, requestFrame());
      await waitFor(() => server.connectionCount === 1);
      await new Promise((r) => setTimeout(r, 50));
      const started = Date.now();
      await server.close(200);
      expect(Date.now() - started).toBeLessThan(1500);
      expect((await stuck).received.length).toBe(0);
    });
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
