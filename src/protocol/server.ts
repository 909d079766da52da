/**
 * saslauthd's socket: the listener core (listener.ts) with a MuxConnection
 * (connection.ts) per accepted socket. At the cap, a newcomer takes the place
 * of the oldest connection still silent about its request (real clients send
 * it in their first write); when every open connection is being answered,
 * the newcomer is closed at once, which the client reports as a temporary
 * failure.
 */
import type { Logger } from 'pino';
import type { LoginHandler } from './answering.js';
import { MuxConnection, type ConnectionTimeouts } from './connection.js';
import { Listener } from './listener.js';
import type { Reply } from './replies.js';

export interface MuxServerOptions {
  readonly handler: LoginHandler<Reply>;
  readonly timeouts: ConnectionTimeouts;
  readonly maxConnections: number;
  readonly maxPerPeer: number;
  readonly logger: Logger;
}

export class MuxServer extends Listener<MuxConnection> {
  constructor({ handler, timeouts, maxConnections, maxPerPeer, logger }: MuxServerOptions) {
    super({
      name: 'mux',
      maxConnections,
      maxPerPeer,
      loginsPerConnection: 'one',
      connect: (socket, room) => new MuxConnection(socket, handler, timeouts, logger, room),
      logger,
    });
  }
}
