/**
 * Dovecot's auth-client protocol: the listener core (listener.ts) with a
 * DovecotConnection (dovecot-connection.ts) per accepted socket, on a UNIX
 * socket and optionally a TCP address for MTAs on other hosts. The protocol
 * has no authentication of its own, so the TCP address is loopback unless
 * the administrator names another, on a network they trust. At the cap a
 * newcomer is closed at once: the connections already open are MTA
 * processes keeping theirs, as Postfix does.
 */
import type { Logger } from 'pino';
import type { LoginHandler } from './answering.js';
import { DovecotConnection, type DovecotAnswer, type DovecotPolicy, type DovecotTimeouts } from './dovecot-connection.js';
import { Listener } from './listener.js';

export interface DovecotServerOptions {
  readonly handler: LoginHandler<DovecotAnswer>;
  readonly timeouts: DovecotTimeouts;
  readonly maxConnections: number;
  readonly maxPerPeer: number;
  readonly policy: DovecotPolicy;
  readonly logger: Logger;
}

export class DovecotServer extends Listener<DovecotConnection> {
  constructor({ handler, timeouts, maxConnections, maxPerPeer, policy, logger }: DovecotServerOptions) {
    super({
      name: 'dovecot',
      maxConnections,
      maxPerPeer,
      loginsPerConnection: 'many',
      connect: (socket, room) => new DovecotConnection(socket, handler, timeouts, logger, policy, room),
      logger,
    });
  }
}
