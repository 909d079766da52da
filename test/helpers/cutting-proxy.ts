/**
 * A TCP proxy in front of a server that speaks RESP (Redis), which cuts the
 * connection right after forwarding a chosen command: the command reaches
 * the server whole, nothing the client wrote after it does. So a test can
 * break a connection between two commands exactly where it wants, instead of
 * hoping a CLIENT KILL lands there.
 */
import net from 'node:net';
import { afterThisTest } from './cleanup.js';

export interface CuttingProxyOptions {
  readonly target: { readonly host: string; readonly port: number };
  /** Cut after forwarding the first command (its words, as sent) this says yes to. */
  readonly cutAfter: (words: readonly string[]) => boolean;
  /** Connections to cut, in the order they come; later ones are passed through untouched. */
  readonly cuts?: number;
}

export interface CuttingProxy {
  readonly port: number;
  readonly url: string;
  /** Commands forwarded and then cut, as their words. */
  readonly cutCommands: ReadonlyArray<readonly string[]>;
}

/** Parses RESP arrays of bulk strings (what clients send) off a buffer: the commands complete in it, and where each ends. */
function commandsIn(buffer: Buffer): Array<{ readonly words: string[]; readonly end: number }> {
  const commands: Array<{ words: string[]; end: number }> = [];
  let at = 0;
  for (;;) {
    const parsed = oneCommand(buffer, at);
    if (!parsed) return commands;
    commands.push(parsed);
    at = parsed.end;
  }
}

function oneCommand(buffer: Buffer, from: number): { words: string[]; end: number } | undefined {
  const line = (at: number): { text: string; next: number } | undefined => {
    const cr = buffer.indexOf('\r\n', at);
    return cr < 0 ? undefined : { text: buffer.toString('latin1', at, cr), next: cr + 2 };
  };
  const head = line(from);
  if (!head) return undefined;
  if (!head.text.startsWith('*')) throw new Error(`cutting proxy: not a RESP array: ${JSON.stringify(head.text.slice(0, 20))}`);
  const count = Number(head.text.slice(1));
  const words: string[] = [];
  let at = head.next;
  for (let i = 0; i < count; i += 1) {
    const size = line(at);
    if (!size) return undefined;
    const length = Number(size.text.slice(1));
    if (buffer.length < size.next + length + 2) return undefined;
    words.push(buffer.toString('latin1', size.next, size.next + length));
    at = size.next + length + 2;
  }
  return { words, end: at };
}

export async function startCuttingProxy(options: CuttingProxyOptions): Promise<CuttingProxy> {
  const cutCommands: Array<readonly string[]> = [];
  let cutsLeft = options.cuts ?? 1;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(options.target.port, options.target.host);
    sockets.add(client).add(upstream);
    client.once('close', () => sockets.delete(client));
    upstream.once('close', () => sockets.delete(upstream));
    const cutting = cutsLeft > 0;
    if (cutting) cutsLeft -= 1;
    let pending = Buffer.alloc(0);
    let forwarded = 0;
    client.on('data', (chunk: Buffer) => {
      if (!cutting) {
        upstream.write(chunk);
        return;
      }
      pending = Buffer.concat([pending, chunk]);
      for (const command of commandsIn(pending)) {
        if (command.end <= forwarded) continue;
        if (options.cutAfter(command.words)) {
          cutCommands.push(command.words);
          // The command and nothing after it: then both sides go.
          upstream.end(pending.subarray(forwarded, command.end), () => upstream.destroy());
          client.destroy();
          return;
        }
      }
      // Forward every complete command; a partial one waits for the rest of its bytes.
      const complete = commandsIn(pending).at(-1)?.end ?? 0;
      if (complete > forwarded) {
        upstream.write(pending.subarray(forwarded, complete));
        forwarded = complete;
      }
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterThisTest(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as net.AddressInfo).port;
  return { port, url: `redis://127.0.0.1:${port}`, cutCommands };
}
