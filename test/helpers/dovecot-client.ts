/**
 * Raw clients of Dovecot's auth protocol: one that sends lines and collects
 * the server's for a test to wait on, and one login with AUTH PLAIN.
 */
import net from 'node:net';

/** A client that sends lines and collects the server's, for a test to wait on. */
export function dovecotLineClient(socketPath: string) {
  const socket = net.connect({ path: socketPath });
  let received = '';
  let closed = false;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  return {
    send: (...lines: string[]) => socket.write(lines.map((line) => `${line}\n`).join('')),
    lines: () => received.split('\n').filter((line) => line !== ''),
    /** The lines after the handshake's DONE (none before it has come). */
    replies: () => {
      const lines = received.split('\n').filter((line) => line !== '');
      const done = lines.indexOf('DONE');
      return done < 0 ? [] : lines.slice(done + 1);
    },
    isClosed: () => closed,
    end: () => socket.destroy(),
  };
}

/** The handshake's AUTH PLAIN, then everything the server sent until it answered that request (OK or FAIL) or closed. */
export function dovecotPlainLogin(where: net.NetConnectOpts, user: string, password: string, extra = ''): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(where);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (/\n(OK|FAIL)\t1\t/.test(text)) socket.destroy();
    });
    const response = Buffer.from(`\0${user}\0${password}`).toString('base64');
    socket.write(`VERSION\t1\t0\nCPID\t1\nAUTH\t1\tPLAIN\tservice=smtp${extra}\tresp=${response}\n`);
  });
}

const A = '\x01';
const b64 = (text: string) => Buffer.from(text, 'latin1').toString('base64');
/** OAUTHBEARER's message (RFC 7628) for `user` and `token`, base64 as a client sends it. */
export const oauthbearerMessage = (user: string, token: string) => b64(`n,a=${user},${A}auth=Bearer ${token}${A}${A}`);
/** XOAUTH2's message, base64. */
export const xoauth2Message = (user: string, token: string) => b64(`user=${user}${A}auth=Bearer ${token}${A}${A}`);

async function until(check: () => boolean, timeoutMs: number, stepMs: number, seen: () => unknown = () => undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`no answer within ${timeoutMs} ms; received ${JSON.stringify(seen())}`);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}

/** One AUTH with an initial response; a refusal's error is acknowledged as the mechanism says. Returns the replies for that id and the decoded error, if any. */
export async function dovecotTokenLogin(dovecotSocket: string, mechanism: 'OAUTHBEARER' | 'XOAUTH2', response: string, rip = '203.0.113.9'): Promise<{ replies: string[]; error?: Record<string, string>; closed: boolean }> {
  const c = dovecotLineClient(dovecotSocket);
  c.send('VERSION\t1\t0', 'CPID\t4242', `AUTH\t1\t${mechanism}\tservice=smtp\tnologin\trip=${rip}\tsecured\tresp=${response}`);
  await until(() => c.replies().length > 0 || c.isClosed(), 5000, 10, () => [dovecotSocket, c.lines()]);
  let error: Record<string, string> | undefined;
  const first = c.replies()[0];
  if (first?.startsWith('CONT\t1\t')) {
    error = JSON.parse(Buffer.from(first.slice('CONT\t1\t'.length), 'base64').toString()) as Record<string, string>;
    c.send(`CONT\t1\t${mechanism === 'OAUTHBEARER' ? b64(A) : ''}`);
    await until(() => c.replies().length > 1 || c.isClosed(), 5000, 10, () => [dovecotSocket, c.lines()]);
  }
  const result = { replies: c.replies(), ...(error ? { error } : {}), closed: c.isClosed() };
  c.end();
  return result;
}
