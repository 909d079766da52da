/**
 * One login over Dovecot's auth protocol, as a raw client writes it: the
 * handshake and one AUTH PLAIN, then everything the server sent until it
 * answered that request (OK or FAIL) or closed.
 */
import net from 'node:net';

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
