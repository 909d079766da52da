/**
 * A raw client over a real UNIX socket, for driving the server the way a
 * peer (polite or hostile) would.
 */
import net from 'node:net';

export interface Exchange {
  /** The reply text, or undefined when the server closed without answering. */
  readonly reply: string | undefined;
  /** Every byte the server sent. */
  readonly received: Buffer;
  /** Milliseconds from connect to the server closing the connection. */
  readonly closedAfterMs: number;
}

export interface ExchangeOptions {
  /** Half-close our side after sending. */
  readonly endAfterSend?: boolean;
  /** Give up (and fail the test) after this long. */
  readonly timeoutMs?: number;
}

export function parseReply(received: Buffer): string | undefined {
  if (received.length < 2) return undefined;
  const length = received.readUInt16BE(0);
  if (received.length < 2 + length) return undefined;
  return received.subarray(2, 2 + length).toString('utf8');
}

/** Connect, send the chunks (with optional pauses), and collect everything until the server closes. */
export function exchange(socketPath: string, chunks: Buffer[] | Buffer, options: ExchangeOptions & { gapMs?: number } = {}): Promise<Exchange> {
  const list = Array.isArray(chunks) ? chunks : [chunks];
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const received: Buffer[] = [];
    const socket = net.connect({ path: socketPath, allowHalfOpen: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`server did not close the connection within ${options.timeoutMs ?? 5000} ms`));
    }, options.timeoutMs ?? 5000);
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    // The server has finished with us (reply or not): finish our side too.
    socket.on('end', () => socket.destroy());
    let connected = false;
    socket.on('error', (error) => {
      // After connecting, a reset is how a UNIX socket reports unread request bytes; the reply is what counts.
      if (!connected) {
        clearTimeout(timer);
        reject(error);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(received);
      resolve({ reply: parseReply(all), received: all, closedAfterMs: Date.now() - started });
    });
    // The writes are paced; nothing awaits this callback, and each step checks the socket first.
    socket.once('connect', () => void (async () => {
      connected = true;
      for (const chunk of list) {
        if (socket.destroyed) return;
        socket.write(chunk);
        if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
      }
      if (options.endAfterSend && !socket.destroyed) socket.end();
    })());
  });
}

/** Open a connection and keep it silent; resolves once connected. */
export function openSilent(socketPath: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path: socketPath });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

export function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  });
}
