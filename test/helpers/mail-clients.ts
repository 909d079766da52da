/**
 * Just enough of IMAP, POP3 and ManageSieve to log in and read the server's verdict, the way a
 * mail client meets it: one connection per login, the reply line as the server sent it.
 */
import net from 'node:net';

/** Each login comes from a loopback address no other login used, unless `from` names one. */
export interface LoginReply {
  /** The server accepted the password. */
  readonly ok: boolean;
  /** The line that said so, e.g. "a NO [AUTHENTICATIONFAILED] Authentication failed." */
  readonly line: string;
  readonly ms: number;
}

/** A line-by-line conversation over one connection, each wait bounded. */
class Conversation {
  readonly #socket: net.Socket;
  #buffer = '';
  #waiting: (() => void) | undefined;
  #closed = false;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#buffer += chunk;
      this.#waiting?.();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#waiting?.();
    });
    socket.on('error', () => undefined);
  }

  /** Lines until one matches, or the deadline. */
  async until(matches: (line: string) => boolean, timeoutMs = 20_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.#buffer.split('\r\n');
      this.#buffer = lines.pop()!;
      for (const line of lines) if (matches(line)) return line;
      if (this.#closed) throw new Error('the server closed the connection');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no answer in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#waiting = undefined;
    }
  }

  send(line: string): void {
    this.#socket.write(`${line}\r\n`);
  }

  close(): void {
    this.#socket.destroy();
  }
}

let sources = 0;

/**
 * A loopback address of its own for each connection (Linux answers all of 127.0.0.0/8): the
 * server sees each login come from a client address no other login used, so one test's
 * failures never throttle another's address.
 */
function freshLoopbackAddress(): string {
  sources += 1;
  return `127.${100 + Math.floor(sources / 62_500)}.${Math.floor(sources / 250) % 250}.${(sources % 250) + 2}`;
}

async function converse(port: number, from: string | undefined, talk: (conversation: Conversation) => Promise<LoginReply>): Promise<LoginReply> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress: from ?? freshLoopbackAddress() });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const conversation = new Conversation(socket);
  try {
    return await talk(conversation);
  } finally {
    conversation.close();
  }
}

function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export function imapLogin(port: number, user: string, password: string, from?: string): Promise<LoginReply> {
  return converse(port, from, async (c) => {
    await c.until((line) => line.startsWith('* OK'));
    const started = Date.now();
    c.send(`a LOGIN ${quoted(user)} ${quoted(password)}`);
    const line = await c.until((reply) => reply.startsWith('a '));
    return { ok: line.startsWith('a OK'), line, ms: Date.now() - started };
  });
}

export function pop3Login(port: number, user: string, password: string, from?: string): Promise<LoginReply> {
  return converse(port, from, async (c) => {
    await c.until((line) => line.startsWith('+OK'));
    const started = Date.now();
    c.send(`USER ${user}`);
    await c.until((line) => line.startsWith('+OK') || line.startsWith('-ERR'));
    c.send(`PASS ${password}`);
    const line = await c.until((reply) => reply.startsWith('+OK') || reply.startsWith('-ERR'));
    return { ok: line.startsWith('+OK'), line, ms: Date.now() - started };
  });
}

/** ManageSieve (RFC 5804): AUTHENTICATE "PLAIN" with the initial response. */
export function sieveLogin(port: number, user: string, password: string, from?: string): Promise<LoginReply> {
  return converse(port, from, async (c) => {
    await c.until((line) => line.startsWith('OK'));
    const started = Date.now();
    c.send(`AUTHENTICATE "PLAIN" "${Buffer.from(`\0${user}\0${password}`).toString('base64')}"`);
    const line = await c.until((reply) => /^(OK|NO|BYE)\b/.test(reply));
    return { ok: line.startsWith('OK'), line, ms: Date.now() - started };
  });
}
