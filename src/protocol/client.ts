/**
 * The client side of one mux exchange: connect, send one request frame, read
 * one reply. The probe and the load generator both use it.
 */
import net from 'node:net';
import { ReplyDecoder } from './codec.js';

export type ClientOutcome =
  | { readonly kind: 'reply'; readonly text: Buffer }
  /** connect: could not connect; closed: the daemon closed without a (whole) reply; timeout: nothing in time. */
  | { readonly kind: 'failed'; readonly stage: 'connect' | 'closed' | 'timeout'; readonly code?: string; readonly replyBytes: number };

export function askDaemon(socketPath: string, frame: Buffer, timeoutMs: number): Promise<ClientOutcome> {
  return new Promise((resolve) => {
    const decoder = new ReplyDecoder();
    let connected = false;
    let settled = false;
    const socket = net.connect({ path: socketPath });
    const settle = (outcome: ClientOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => settle({ kind: 'failed', stage: 'timeout', replyBytes: decoder.bufferedBytes }), timeoutMs);
    socket.once('connect', () => {
      connected = true;
      socket.write(frame);
    });
    socket.on('data', (chunk: Buffer) => {
      const result = decoder.push(chunk);
      if (result.status === 'complete') settle({ kind: 'reply', text: result.reply });
    });
    socket.once('end', () => settle({ kind: 'failed', stage: 'closed', replyBytes: decoder.bufferedBytes }));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? error.message;
      settle({ kind: 'failed', stage: connected ? 'closed' : 'connect', code, replyBytes: decoder.bufferedBytes });
    });
  });
}
