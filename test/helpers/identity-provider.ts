/**
 * A real OAuth 2.0 / OpenID Connect authorization server on loopback for the
 * token tests: npm's oidc-provider, issuing access tokens by the
 * client-credentials grant. Each mailbox user is a client whose tokens carry
 * the user's address in an `email` claim (extraTokenClaims), so one grant
 * gives the token a mail client would hold for that user.
 *
 * Resource indicators (RFC 8707) choose what a token is for:
 *   urn:mail           a JWT for the mail service (aud urn:mail), 5 minutes
 *   urn:mail:short     the same with a 1-second lifetime (an expired token)
 *   urn:mail:opaque    an opaque token for the mail service (introspection)
 *   urn:other          a JWT for another service (aud urn:other)
 *   urn:other:opaque   an opaque token for another service
 *   urn:mail:opaque:short  an opaque token with a 1-second lifetime
 *
 * `restart()` stops it and starts it again on the same port, with the same
 * signing key or a new one (a rotated key); `hang()` keeps accepting
 * connections and never answers (a provider that is up but stuck).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { errors } from 'oidc-provider';

export interface TokenUser {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly email: string;
}

/** A user of the provider: a client of its own whose tokens carry NAME@example.org. */
export function tokenUser(name: string): TokenUser {
  return { clientId: `${name}-mail`, clientSecret: `${name}-client-secret-0123456789`, email: `${name}@example.org` };
}

const RESOURCES: Record<string, { readonly audience: string; readonly accessTokenTTL: number; readonly accessTokenFormat: 'jwt' | 'opaque' }> = {
  'urn:mail': { audience: 'urn:mail', accessTokenTTL: 300, accessTokenFormat: 'jwt' },
  'urn:mail:short': { audience: 'urn:mail', accessTokenTTL: 1, accessTokenFormat: 'jwt' },
  'urn:mail:opaque': { audience: 'urn:mail', accessTokenTTL: 300, accessTokenFormat: 'opaque' },
  'urn:other': { audience: 'urn:other', accessTokenTTL: 300, accessTokenFormat: 'jwt' },
  'urn:other:opaque': { audience: 'urn:other', accessTokenTTL: 300, accessTokenFormat: 'opaque' },
  'urn:mail:opaque:short': { audience: 'urn:mail', accessTokenTTL: 1, accessTokenFormat: 'opaque' },
};

export async function signingKey(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}

export class ThrowawayIdentityProvider {
  readonly users: readonly TokenUser[];
  #server: Server;
  #sockets = new Set<Socket>();
  #port: number;
  #key: JWK;
  #issuer: string;
  #hanging = false;
  /** Requests received, by path: what the daemon asked of the provider. */
  readonly requests = new Map<string, number>();

  private constructor(server: Server, port: number, users: readonly TokenUser[], key: JWK, issuer: string) {
    this.#server = server;
    this.#port = port;
    this.users = users;
    this.#key = key;
    this.#issuer = issuer;
  }

  /** Listening on a free loopback port, signing with `key` (a new one when absent: another provider's key makes a second issuer with the same key). */
  static async start(users: readonly TokenUser[], options: { readonly key?: JWK } = {}): Promise<ThrowawayIdentityProvider> {
    const key = options.key ?? (await signingKey('key-1'));
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const issuer = `http://127.0.0.1:${port}`;
    const provider = new ThrowawayIdentityProvider(server, port, users, key, issuer);
    provider.#serve(server);
    return provider;
  }

  get issuer(): string {
    return this.#issuer;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get key(): JWK {
    return this.#key;
  }

  #serve(server: Server): void {
    const byClient = new Map(this.users.map((user) => [user.clientId, user.email]));
    const provider = new Provider(this.#issuer, {
      clients: this.users.map((user) => ({ client_id: user.clientId, client_secret: user.clientSecret, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope: 'mail' })),
      jwks: { keys: [this.#key] },
      scopes: ['mail'],
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        introspection: { enabled: true },
        revocation: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => 'urn:mail',
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx: unknown, resource: string) => {
            const server = RESOURCES[resource];
            if (!server) throw new errors.InvalidTarget();
            return { scope: 'mail', ...server };
          },
        },
      },
      extraTokenClaims: (_ctx, token) => ({ email: byClient.get(token.clientId ?? '') }),
    });
    const callback = provider.callback();
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      const path = (request.url ?? '').split('?')[0]!;
      this.requests.set(path, (this.requests.get(path) ?? 0) + 1);
      if (this.#hanging) return;
      void callback(request, response);
    });
  }

  /** An access token for `user` by the client-credentials grant, for `resource`. */
  async token(user: TokenUser, resource = 'urn:mail'): Promise<string> {
    const response = await this.#post('/token', user, { grant_type: 'client_credentials', scope: 'mail', resource });
    const body = (await response.json()) as { access_token?: string; error?: string; error_description?: string };
    if (!body.access_token) throw new Error(`the provider gave no token: ${body.error ?? response.status} ${body.error_description ?? ''}`);
    return body.access_token;
  }

  /** Revokes a token (RFC 7009) as the client it was issued to. */
  async revoke(user: TokenUser, token: string): Promise<void> {
    const response = await this.#post('/token/revocation', user, { token, token_type_hint: 'access_token' });
    if (response.status !== 200) throw new Error(`revocation answered HTTP ${response.status}: ${await response.text()}`);
  }

  /** A form POST as `user`'s client; once more if a kept-alive connection from before a restart was gone (fetch does not retry a POST). */
  async #post(where: string, user: TokenUser, form: Record<string, string>): Promise<Response> {
    const send = () =>
      fetch(`${this.url}${where}`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${user.clientId}:${user.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
      });
    try {
      return await send();
    } catch (error) {
      if ((error as Error).message !== 'fetch failed') throw error;
      return send();
    }
  }

  /** Accept connections and never answer. */
  hang(): void {
    this.#hanging = true;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Stopped and started again on the same port, with `key` (a rotated key) or the same one. */
  async restart(key: JWK = this.#key): Promise<void> {
    await this.stop();
    this.#key = key;
    this.#hanging = false;
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    this.#serve(server);
  }
}
