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
