/**
 * What the listener core and a one-login connection use of an accepted
 * socket: the part of net.Socket that the native UNIX-socket server
 * (native-unix-server.ts) also offers. A net.Socket is one.
 */
export interface AcceptedSocket {
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'end' | 'close', listener: () => void): this;
  on(event: 'error', listener: (error: NodeJS.ErrnoException) => void): this;
  once(event: 'close', listener: () => void): this;
  write(data: Buffer): boolean;
  /** Bytes written that the kernel has not taken yet. */
  readonly writableLength: number;
  /** Shut down the sending side once what was written has gone; then `callback`. */
  end(callback?: () => void): this;
  destroy(): this;
  /** The peer's address over TCP; undefined on a UNIX socket. */
  readonly remoteAddress?: string | undefined;
  /** The peer's credentials on a UNIX socket (SO_PEERCRED), where the socket can ask for them itself. */
  peerCredentials?(): PeerCredentials | undefined;
}

export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** What the listener core uses of a listening server: net.Server's part of it. */
export interface AcceptingServer {
  listen(where: { readonly path: string } | { readonly fd: number } | { readonly host: string; readonly port: number }, listening: () => void): unknown;
  close(closed: () => void): unknown;
  address(): ReturnType<import('node:net').Server['address']>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  once(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
}
