/**
 * saslauthd's socket on libuv's pipe handles (native/src/listen_addon.c)
 * instead of net.Server and net.Socket. A saslauthd client opens a
 * connection per login; Node's stream machinery around each one (a Duplex,
 * its state and events, an options object copied per connection) costs the
 * event loop more than the login itself on the hot path. Here each
 * connection is a small object that passes on what the addon reports, with
 * the same events and calls as the net.Socket it replaces (AcceptedSocket):
 * the protocol's rules, limits and deadlines stay where they are
 * (connection.ts, listener.ts). Where the addon is not built, the listener
 * uses net as before (nativeUnixListener() says which).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';
import type { AcceptedSocket, AcceptingServer, PeerCredentials } from './accepted-socket.js';

/** Same place from dist/protocol and, under the test runner, from src/protocol. */
export const LISTEN_ADDON_FILE = fileURLToPath(new URL('../../native/build/Release/saslauthd_mysql_listen.node', import.meta.url));

type ServerHandle = { readonly __nativeServer: never };

interface ListenBinding {
  listen(handler: (event: number, id: number, value: Buffer | number) => void, where: string | number, backlog: number): ServerHandle;
  write(server: ServerHandle, id: number, data: Buffer): number;
  pending(server: ServerHandle, id: number): number;
  end(server: ServerHandle, id: number): number;
  destroy(server: ServerHandle, id: number): void;
  peer(server: ServerHandle, id: number): [number, number, number] | null;
  close(server: ServerHandle): void;
  isUnixStream(fd: number): boolean;
}

const EVENT = { connection: 0, data: 1, end: 2, error: 3, close: 4, shutdown: 5, acceptError: 6, closed: 7 } as const;

/** As net.Server: the kernel's queue of connections not yet accepted. */
const BACKLOG = 511;

let binding: ListenBinding | null | undefined;

/** The addon, or null when it is not built (or not the one this code expects). */
export function nativeUnixListener(): ListenBinding | null {
  if (binding !== undefined) return binding;
  try {
    const loaded = existsSync(LISTEN_ADDON_FILE) ? (createRequire(import.meta.url)(LISTEN_ADDON_FILE) as ListenBinding) : null;
    binding = loaded && typeof loaded.listen === 'function' && typeof loaded.isUnixStream === 'function' ? loaded : null;
  } catch {
    binding = null;
  }
  return binding;
}

/** A libuv error number as Node reports it: code EPIPE, message "write EPIPE". */
function uvError(syscall: string, errno: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(errno);
  return Object.assign(new Error(`${syscall} ${code}`), { code, errno, syscall });
}

type Listener<A extends unknown[]> = ((...args: A) => void) | undefined;

/** One accepted connection (see the top of this file). */
class NativeUnixSocket implements AcceptedSocket {
  readonly remoteAddress = undefined;
  readonly #binding: ListenBinding;
  readonly #server: ServerHandle;
  readonly #id: number;
  #onData: Listener<[Buffer]>;
  #onEnd: Listener<[]>;
  #onError: Listener<[NodeJS.ErrnoException]>;
  #onClose: Array<() => void> = [];
  #afterEnd: (() => void) | undefined;
  #destroyed = false;

  constructor(nativeBinding: ListenBinding, server: ServerHandle, id: number) {
    this.#binding = nativeBinding;
    this.#server = server;
    this.#id = id;
  }

  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'end' | 'close', listener: () => void): this;
  on(event: 'error', listener: (error: NodeJS.ErrnoException) => void): this;
  on(event: 'data' | 'end' | 'close' | 'error', listener: (...args: never[]) => void): this {
    // 'close' may have several listeners (the listener core's and the connection's); the others one each, which is all a
    // connection sets: a second would be a programming error, not something to drop quietly.
    if (event === 'close') {
      this.#onClose.push(listener);
      return this;
    }
    if ((event === 'data' ? this.#onData : event === 'end' ? this.#onEnd : this.#onError) !== undefined) throw new Error(`a native UNIX socket takes one '${event}' listener`);
    if (event === 'data') this.#onData = listener as (chunk: Buffer) => void;
    else if (event === 'end') this.#onEnd = listener;
    else this.#onError = listener as (error: NodeJS.ErrnoException) => void;
    return this;
  }

  once(event: 'close', listener: () => void): this {
    // A socket closes once: its close listeners run once.
    return this.on(event, listener);
  }

  write(data: Buffer): boolean {
    if (this.#destroyed) return false;
    const result = this.#binding.write(this.#server, this.#id, data);
    if (result < 0) {
      this.#fail(uvError('write', result));
      return false;
    }
    return result === 0;
  }

  get writableLength(): number {
    return this.#destroyed ? 0 : this.#binding.pending(this.#server, this.#id);
  }

  end(callback?: () => void): this {
    if (this.#destroyed) return this;
    const status = this.#binding.end(this.#server, this.#id);
    if (status < 0) this.#fail(uvError('shutdown', status));
    else this.#afterEnd = callback;
    return this;
  }

  destroy(): this {
    if (!this.#destroyed) {
      this.#destroyed = true;
      this.#binding.destroy(this.#server, this.#id);
    }
    return this;
  }

  peerCredentials(): PeerCredentials | undefined {
    const found = this.#destroyed ? null : this.#binding.peer(this.#server, this.#id);
    return found ? { pid: found[0], uid: found[1], gid: found[2] } : undefined;
  }

  /** What the addon reported about this connection. */
  event(event: number, value: Buffer | number): void {
    switch (event) {
      case EVENT.data:
        if (!this.#destroyed) this.#onData?.(value as Buffer);
        return;
      case EVENT.end:
        if (!this.#destroyed) this.#onEnd?.();
        return;
      case EVENT.error:
        if (!this.#destroyed) this.#fail(uvError('read', value as number));
        return;
      case EVENT.shutdown:
        if ((value as number) < 0) this.#fail(uvError('shutdown', value as number));
        else this.#afterEnd?.();
        return;
      case EVENT.close:
        this.#destroyed = true;
        for (const listener of this.#onClose.splice(0)) listener();
    }
  }

  /** As net.Socket: the error is reported on the next tick, and the connection closes. */
  #fail(error: NodeJS.ErrnoException): void {
    this.destroy();
    const report = this.#onError;
    if (report) process.nextTick(report, error);
  }
}

/** A listening UNIX socket whose connections are NativeUnixSockets, used by the listener core as a net.Server. */
export class NativeUnixServer implements AcceptingServer {
  readonly #binding: ListenBinding;
  readonly #accept: (socket: AcceptedSocket) => void;
  readonly #sockets = new Map<number, NativeUnixSocket>();
  #handle: ServerHandle | undefined;
  #closing = false;
  #closed = false;
  #errorListeners: Array<(error: Error) => void> = [];
  #onClosed: Array<() => void> = [];

  constructor(nativeBinding: ListenBinding, accept: (socket: AcceptedSocket) => void) {
    this.#binding = nativeBinding;
    this.#accept = accept;
  }

  listen(where: { readonly path: string } | { readonly fd: number } | { readonly host: string; readonly port: number }, listening: () => void): this {
    if ('host' in where) throw new TypeError('the native listener takes a UNIX socket path or descriptor');
    try {
      this.#handle = this.#binding.listen((event, id, value) => this.#event(event, id, value), 'path' in where ? where.path : where.fd, BACKLOG);
      process.nextTick(listening);
    } catch (error) {
      // As net.Server: a failure to listen is an 'error' event, not a throw.
      process.nextTick(() => this.#emitError(error as Error));
    }
    return this;
  }

  /** Stop accepting; `closed` once the listening socket is closed (at once if it is already, as net.Server calls back with an error then). */
  close(closed: () => void): this {
    if (this.#handle === undefined || this.#closed) {
      process.nextTick(closed);
      return this;
    }
    this.#onClosed.push(closed);
    if (!this.#closing) this.#binding.close(this.#handle);
    this.#closing = true;
    return this;
  }

  address(): null {
    return null;
  }

  on(_event: 'error', listener: (error: Error) => void): this {
    this.#errorListeners.push(listener);
    return this;
  }

  once(event: 'error', listener: (error: Error) => void): this {
    const once = (error: Error): void => {
      this.off(event, once);
      listener(error);
    };
    (once as { listener?: unknown }).listener = listener;
    return this.on(event, once);
  }

  off(_event: 'error', listener: (error: Error) => void): this {
    this.#errorListeners = this.#errorListeners.filter((each) => each !== listener && (each as { listener?: unknown }).listener !== listener);
    return this;
  }

  #event(event: number, id: number, value: Buffer | number): void {
    if (event === EVENT.connection) {
      const socket = new NativeUnixSocket(this.#binding, this.#handle!, id);
      this.#sockets.set(id, socket);
      this.#accept(socket);
      return;
    }
    if (event === EVENT.acceptError) {
      this.#emitError(uvError('accept', value as number));
      return;
    }
    if (event === EVENT.closed) {
      this.#closed = true;
      for (const closed of this.#onClosed.splice(0)) closed();
      return;
    }
    const socket = this.#sockets.get(id);
    if (event === EVENT.close) this.#sockets.delete(id);
    socket?.event(event, value);
  }

  #emitError(error: Error): void {
    const listeners = [...this.#errorListeners];
    if (listeners.length === 0) throw error;
    for (const listener of listeners) listener(error);
  }
}
