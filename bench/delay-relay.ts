/**
 * A TCP relay that holds every chunk for a set time in each direction, for a
 * link with latency where the kernel has no tc netem: the daemon connects to
 * the relay on loopback, the relay to the server over the real (possibly
 * lossy) link. Order is kept per direction; the delay can change while
 * connections are open.
 */
import net from 'node:net';

export class DelayRelay {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #delayMs = 0;

  private constructor(server: net.Server) {
    this.#server = server;
  }

  static async start(target: { host: string; port: number }): Promise<DelayRelay> {
    const server = net.createServer();
    const relay = new DelayRelay(server);
    server.on('connection', (client) => relay.#pipe(client, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Each direction's delay; 0 forwards at once. */
  set delayMs(ms: number) {
    this.#delayMs = ms;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #pipe(client: net.Socket, target: { host: string; port: number }): void {
    const upstream = net.connect(target);
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    this.#forward(client, upstream);
    this.#forward(upstream, client);
  }

  #forward(from: net.Socket, to: net.Socket): void {
    // Chunks leave in the order they came, each no sooner than its delay.
    let lastDue = 0;
    from.on('data', (chunk: Buffer) => {
      const due = Math.max(performance.now() + this.#delayMs, lastDue);
      lastDue = due;
      const send = () => {
        if (!to.destroyed) to.write(chunk);
      };
      if (due <= performance.now()) send();
      else setTimeout(send, due - performance.now());
    });
    from.on('close', () => {
      const wait = Math.max(0, lastDue - performance.now());
      setTimeout(() => to.destroy(), wait);
    });
  }
}
