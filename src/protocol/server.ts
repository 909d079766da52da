/**
 * saslauthd's socket: the listener core (listener.ts) with a MuxConnection
 * (connection.ts) per accepted socket. At the cap, a newcomer takes the place
 * of the oldest connection still silent about its request (real clients send
 * it in their first write); when every open connection is being answered,
 * the newcomer is closed at once, which the client reports as a temporary
 * failure.
 *
 * On a UNIX socket (a path, or systemd's descriptor) it accepts through the
 * native listener (native-unix-server.ts) where the addon is built, and
 * through net otherwise; over TCP always through net.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import type { AcceptedSocket, AcceptingServer } from './accepted-socket.js';
import type { LoginHandler } from './answering.js';
import { MuxConnection, type ConnectionTimeouts } from './connection.js';
import { Listener, type ListenAddress } from './listener.js';
import { nativeUnixListener, NativeUnixServer } from './native-unix-server.js';
import type { Reply } from './replies.js';

export interface MuxServerOptions {
  readonly handler: LoginHandler<Reply>;
  readonly timeouts: ConnectionTimeouts;
  readonly maxConnections: number;
  readonly maxPerPeer: number;
  readonly logger: Logger;
  /** UNIX sockets through the native listener when it is built (the default), or always through net. */
  readonly nativeUnixSockets?: boolean;
}

export class MuxServer extends Listener<MuxConnection, AcceptedSocket> {
  #engines = new Set<'native' | 'node'>();

  constructor({ handler, timeouts, maxConnections, maxPerPeer, logger, nativeUnixSockets = true }: MuxServerOptions) {
    super({
      name: 'mux',
      maxConnections,
      maxPerPeer,
      loginsPerConnection: 'one',
      connect: (socket, room) => new MuxConnection(socket, handler, timeouts, logger, room),
      serve: (accept, where) => {
        const server = unixServer(accept, where, nativeUnixSockets);
        this.#engines.add(server instanceof NativeUnixServer ? 'native' : 'node');
        return server;
      },
      logger,
    });
  }

  /** Who accepts on the addresses listened on so far: the native listener, Node's net, or both (for the log). */
  get engine(): string {
    return [...this.#engines].join('+');
  }
}

/** The native listener for a UNIX socket when it is built and wanted; net.Server otherwise (allowHalfOpen: a client may shut down its side and still want the reply). */
function unixServer(accept: (socket: AcceptedSocket) => void, where: ListenAddress, wanted: boolean): AcceptingServer {
  const native = wanted ? nativeUnixListener() : null;
  if (native && ('path' in where || ('fd' in where && native.isUnixStream(where.fd)))) return new NativeUnixServer(native, accept);
  return net.createServer({ allowHalfOpen: true }, accept);
}
