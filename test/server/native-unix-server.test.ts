/**
 * The native UNIX listener (native/src/listen_addon.c through
 * src/protocol/native-unix-server.ts) on its own, against real clients: the
 * part of net.Server and net.Socket it stands in for behaves the same. The
 * protocol on top of it is tested in mux-server.test.ts, on both listeners.
 */
import { closeSync, openSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AcceptedSocket } from '../../src/protocol/accepted-socket.js';
import { nativeUnixListener, NativeUnixServer } from '../../src/protocol/native-unix-server.js';
import { tempDir } from '../helpers/temp.js';

const binding = nativeUnixListener();
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function listening(accept: (socket: AcceptedSocket) => void): Promise<{ server: NativeUnixServer; socketPath: string }> {
  if (!binding) throw new Error('the native listener is not built: npm run build (it needs g++, make and python3)');
  const socketPath = path.join(tempDir(), 'native.sock');
  const server = new NativeUnixServer(binding, accept);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: socketPath }, resolve);
  });
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { server, socketPath };
}

function connect(socketPath: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const client = net.connect({ path: socketPath, allowHalfOpen: true });
    client.once('connect', () => resolve(client));
    client.once('error', reject);
    cleanups.push(async () => void client.destroy());
  });
}

/** Everything the client receives until the server's side ends. */
function receivedUntilEnd(client: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  client.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => client.once('end', () => resolve(Buffer.concat(chunks))));
}

describe('the native UNIX listener', () => {
  it('passes on every byte read, answers, and reports its close once', async () => {
    const events: string[] = [];
    let accepted: AcceptedSocket | undefined;
    const read: Buffer[] = [];
    const { socketPath } = await listening((socket) => {
      accepted = socket;
      socket.on('data', (chunk) => read.push(chunk));
      socket.on('close', () => events.push('close'));
      socket.once('close', () => events.push('close, once'));
    });
    const client = await connect(socketPath);
    const reply = receivedUntilEnd(client);
    client.write('first ');
    await new Promise((r) => setTimeout(r, 20));
    client.write('second');
    await expect.poll(() => Buffer.concat(read).toString()).toBe('first second');
    expect(accepted!.write(Buffer.from('answer'))).toBe(true);
    expect(accepted!.writableLength).toBe(0);
    accepted!.destroy();
    expect((await reply).toString()).toBe('answer');
    await expect.poll(() => events).toEqual(['close', 'close, once']);
    // Gone: further calls do nothing and write nothing.
    expect(accepted!.write(Buffer.from('late'))).toBe(false);
    expect(accepted!.writableLength).toBe(0);
  });

  it("says who the peer is: this process's own user", async () => {
    let accepted: AcceptedSocket | undefined;
    const { socketPath } = await listening((socket) => (accepted = socket));
    await connect(socketPath);
    await expect.poll(() => accepted).toBeDefined();
    expect(accepted!.remoteAddress).toBeUndefined();
    expect(accepted!.peerCredentials!()).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
  });

  it('reports a half-close as end, and still delivers what it writes after', async () => {
    let accepted: AcceptedSocket | undefined;
    let ended = false;
    const { socketPath } = await listening((socket) => {
      accepted = socket;
      socket.on('end', () => (ended = true));
    });
    const client = await connect(socketPath);
    const reply = receivedUntilEnd(client);
    client.end('request');
    await expect.poll(() => ended).toBe(true);
    accepted!.write(Buffer.from('reply'));
    const finished = new Promise<void>((resolve) => accepted!.end(resolve));
    await finished;
    expect((await reply).toString()).toBe('reply');
    accepted!.destroy();
  });

  it('fails a write to a peer that hung up with EPIPE, then closes', async () => {
    let accepted: AcceptedSocket | undefined;
    const errors: string[] = [];
    let closed = false;
    const { socketPath } = await listening((socket) => {
      accepted = socket;
      socket.on('error', (error) => errors.push(`${error.code} ${error.syscall}`));
      socket.on('close', () => (closed = true));
    });
    const client = await connect(socketPath);
    await expect.poll(() => accepted).toBeDefined();
    client.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(accepted!.write(Buffer.from([0]))).toBe(false);
    await expect.poll(() => closed).toBe(true);
    expect(errors).toEqual(['EPIPE write']);
  });

  it('keeps what the kernel did not take, and counts it until it has gone', async () => {
    let accepted: AcceptedSocket | undefined;
    const { socketPath } = await listening((socket) => (accepted = socket));
    const client = await connect(socketPath);
    client.pause();
    await expect.poll(() => accepted).toBeDefined();
    const big = Buffer.alloc(8 * 1024 * 1024, 7);
    accepted!.write(big);
    const waiting = accepted!.writableLength;
    expect(waiting).toBeGreaterThan(0);
    expect(waiting).toBeLessThan(big.length);
    const reply = receivedUntilEnd(client);
    client.resume();
    accepted!.end(() => accepted!.destroy());
    expect((await reply).equals(big)).toBe(true);
  });

  it('stops accepting on close, leaves open connections be, and calls back on a second close too', async () => {
    let accepted = 0;
    const { server, socketPath } = await listening(() => (accepted += 1));
    const early = await connect(socketPath);
    await expect.poll(() => accepted).toBe(1);
    await new Promise<void>((resolve) => server.close(resolve));
    await new Promise<void>((resolve) => server.close(resolve));
    await expect(connect(socketPath)).rejects.toThrow(/ECONNREFUSED|ENOENT/);
    expect(early.destroyed).toBe(false);
  });

  it('reports what net.Server would when it cannot listen: a path in use, a path too long', async () => {
    const { socketPath } = await listening(() => undefined);
    const again = new NativeUnixServer(binding!, () => undefined);
    const inUse = await new Promise<NodeJS.ErrnoException>((resolve) => {
      again.once('error', resolve);
      again.listen({ path: socketPath }, () => resolve(new Error('listened twice')));
    });
    expect(inUse.code).toBe('EADDRINUSE');
    const long = new NativeUnixServer(binding!, () => undefined);
    const tooLong = await new Promise<NodeJS.ErrnoException>((resolve) => {
      long.once('error', resolve);
      long.listen({ path: path.join(tempDir(), 'x'.repeat(200)) }, () => resolve(new Error('listened')));
    });
    expect(tooLong.code).toBe('ENAMETOOLONG');
  });

  it('takes a UNIX stream descriptor only: a TCP one handed over stays with net', async () => {
    const unix = net.createServer().listen(path.join(tempDir(), 'plain.sock'));
    const tcp = net.createServer().listen(0, '127.0.0.1');
    await Promise.all([unix, tcp].map((server) => new Promise((resolve) => server.once('listening', resolve))));
    const fdOf = (server: net.Server) => (server as unknown as { _handle: { fd: number } })._handle.fd;
    const file = path.join(tempDir(), 'not-a-socket');
    writeFileSync(file, '');
    const fileFd = openSync(file, 'r');
    try {
      expect(binding!.isUnixStream(fdOf(unix))).toBe(true);
      expect(binding!.isUnixStream(fdOf(tcp))).toBe(false);
      expect(binding!.isUnixStream(fileFd)).toBe(false);
    } finally {
      closeSync(fileFd);
      unix.close();
      tcp.close();
    }
  });
});
