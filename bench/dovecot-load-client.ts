/**
 * A client of the daemon's Dovecot auth protocol as an MTA uses it: one
 * long-lived connection, the handshake once, then logins pipelined by id
 * (PLAIN with an initial response, PLAIN answering a CONT, LOGIN's two
 * steps). A login ends with the user the daemon names (OK), FAIL, or none:
 * the connection closed or nothing came in time, which an MTA reports as a
 * temporary failure. The soak (bench/soak-run.ts) drives it.
 */
import net from 'node:net';

export type DovecotMechanism = 'PLAIN' | 'PLAIN-CONT' | 'LOGIN';

export type DovecotOutcome = { readonly kind: 'ok'; readonly user: string } | { readonly kind: 'fail' } | { readonly kind: 'none' };

export interface DovecotLogin {
  readonly mechanism: DovecotMechanism;
  readonly user: string;
  readonly password: string;
  /** The client's address, sent as rip. */
  readonly rip?: string;
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

export class DovecotLoadConnection {
  readonly #socket: net.Socket;
  /** Per request id: the one waiting for its next line (CONT, OK, FAIL), if any; undefined when the connection closed. */
  readonly #waiting = new Map<string, (fields: readonly string[] | undefined) => void>();
  #buffer = '';
  #nextId = 1;
  #closed = false;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.#onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#closed = true;
      for (const wake of this.#waiting.values()) wake(undefined);
      this.#waiting.clear();
    });
  }

  /** Connected and past the handshake (the server's DONE), or an error. */
  static open(path: string, timeoutMs: number): Promise<DovecotLoadConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ path });
      const timer = setTimeout(() => fail(new Error(`no handshake from ${path} within ${timeoutMs} ms`)), timeoutMs);
      let text = '';
      const fail = (error: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(error);
      };
      socket.once('error', fail);
      socket.on('data', function handshake(chunk: Buffer) {
        text += chunk.toString('utf8');
        if (!/(^|\n)DONE\n/.test(text)) return;
        clearTimeout(timer);
        socket.off('data', handshake);
        socket.off('error', fail);
        resolve(new DovecotLoadConnection(socket));
      });
      socket.write('VERSION\t1\t0\nCPID\t4242\n');
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#socket.destroy();
  }

  /** One login, pipelined beside any others on this connection. */
  async login(login: DovecotLogin, timeoutMs: number): Promise<DovecotOutcome> {
    if (this.#closed) return { kind: 'none' };
    const id = String(this.#nextId++);
    const deadline = performance.now() + timeoutMs;
    const rip = login.rip ? `\trip=${login.rip}` : '';
    let answer: readonly string[] | undefined;
    switch (login.mechanism) {
      case 'PLAIN':
        answer = await this.#send(id, `AUTH\t${id}\tPLAIN\tservice=imap${rip}\tresp=${b64(`\0${login.user}\0${login.password}`)}`, deadline);
        break;
      case 'PLAIN-CONT':
        answer = await this.#send(id, `AUTH\t${id}\tPLAIN\tservice=smtp${rip}`, deadline);
        if (answer?.[0] === 'CONT') answer = await this.#send(id, `CONT\t${id}\t${b64(`\0${login.user}\0${login.password}`)}`, deadline);
        break;
      case 'LOGIN':
        answer = await this.#send(id, `AUTH\t${id}\tLOGIN\tservice=smtp${rip}`, deadline);
        if (answer?.[0] === 'CONT') answer = await this.#send(id, `CONT\t${id}\t${b64(login.user)}`, deadline);
        if (answer?.[0] === 'CONT') answer = await this.#send(id, `CONT\t${id}\t${b64(login.password)}`, deadline);
        break;
    }
    if (answer?.[0] === 'OK') return { kind: 'ok', user: answer.find((field) => field.startsWith('user='))?.slice('user='.length) ?? '' };
    if (answer?.[0] === 'FAIL') return { kind: 'fail' };
    // A CONT where an answer belongs, a timeout, or a closed connection: nothing the client can use.
    if (answer !== undefined) this.close();
    return { kind: 'none' };
  }

  /** Writes one line and waits for the next line with this id: [command, ...fields after the id]. */
  #send(id: string, line: string, deadline: number): Promise<readonly string[] | undefined> {
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        // Nothing in time: give up on the connection, as an MTA does.
        this.close();
        resolve(undefined);
      }, Math.max(0, deadline - performance.now()));
      this.#waiting.set(id, (fields) => {
        clearTimeout(timer);
        resolve(fields);
      });
      this.#socket.write(`${line}\n`);
    });
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let newline: number;
    while ((newline = this.#buffer.indexOf('\n')) >= 0) {
      const [command = '', id = '', ...rest] = this.#buffer.slice(0, newline).split('\t');
      this.#buffer = this.#buffer.slice(newline + 1);
      const wake = this.#waiting.get(id);
      if (!wake) continue;
      this.#waiting.delete(id);
      wake([command, ...rest]);
    }
  }
}
