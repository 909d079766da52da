/**
 * A client of the daemon's Dovecot auth policy listener as Dovecot's auth
 * process uses it (src/auth/auth-policy.c in 2.3): one keep-alive connection
 * pool, `allow` before a login, `report` after it, the shared secret on
 * each. The soak (bench/soak-run.ts) drives it, with the disorders a real
 * Dovecot can show: an allow whose report never comes (an auth process that
 * died), and a request cut short.
 */
import http from 'node:http';
import net from 'node:net';

export interface PolicyLogin {
  readonly login: string;
  readonly remote: string;
  readonly session: string;
  /** A stand-in for Dovecot's truncated hash of the user and the password. */
  readonly pwhash: string;
}

/** What an allow was answered: Dovecot's status, or none (an HTTP error, a timeout, a closed connection). */
export type PolicyAllowOutcome = { readonly kind: 'status'; readonly status: number } | { readonly kind: 'none' };

export class PolicyLoadClient {
  readonly #port: number;
  readonly #secret: string;
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

  constructor(port: number, secret: string) {
    this.#port = port;
    this.#secret = secret;
  }

  async allow(login: PolicyLogin, timeoutMs: number): Promise<PolicyAllowOutcome> {
    const answer = await this.#post('allow', { ...attributes(login), tls: false }, timeoutMs);
    if (answer === undefined) return { kind: 'none' };
    try {
      const { status } = JSON.parse(answer) as { status?: unknown };
      return typeof status === 'number' ? { kind: 'status', status } : { kind: 'none' };
    } catch {
      return { kind: 'none' };
    }
  }

  async report(login: PolicyLogin, success: boolean, timeoutMs: number): Promise<boolean> {
    return (await this.#post('report', { ...attributes(login), success, policy_reject: false, tls: false }, timeoutMs)) !== undefined;
  }

  /** A request cut off halfway through its body, on a connection of its own. */
  hangUp(): Promise<void> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: this.#port }, () => {
        socket.end(`POST /?command=allow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${this.#secret}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"login":"cut`);
        socket.destroy();
      });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
    });
  }

  close(): void {
    this.#agent.destroy();
  }

  /** The answer's body for a 2xx answer; undefined for anything else. */
  #post(command: 'allow' | 'report', body: object, timeoutMs: number): Promise<string | undefined> {
    const payload = JSON.stringify(body);
    return new Promise((resolve) => {
      const request = http.request(
        { host: '127.0.0.1', port: this.#port, path: `/?command=${command}`, method: 'POST', agent: this.#agent, timeout: timeoutMs, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), 'x-api-key': this.#secret } },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => resolve(response.statusCode !== undefined && response.statusCode >= 200 && response.statusCode < 300 ? text : undefined));
          response.on('error', () => resolve(undefined));
        },
      );
      request.on('timeout', () => request.destroy());
      request.on('error', () => resolve(undefined));
      request.end(payload);
    });
  }
}

function attributes(login: PolicyLogin): Record<string, string> {
  return { device_id: '', login: login.login, protocol: 'imap', pwhash: login.pwhash, remote: login.remote, session_id: login.session };
}
