/**
 * What the daemon reads of an identity provider's discovery document
 * (OpenID Connect Discovery 1.0; RFC 8414 for plain OAuth servers): where its
 * signing keys are, which signature algorithms it uses, and where tokens are
 * introspected. Fetched with a deadline and a size bound, kept once read, and
 * asked again (at most once per retry interval) while it cannot be read.
 *
 * The document must name the configured issuer exactly (OpenID Connect
 * Discovery section 4.3): a document served at the issuer's address for
 * another issuer is refused, so tokens of that other issuer never verify.
 */
import { isIP } from 'node:net';

/** The document's size at most: real ones are a few kilobytes. */
const MAX_DOCUMENT_BYTES = 256 * 1024;

/** The signature algorithms a token may use: asymmetric only, so that no published key can ever serve as an HMAC secret, and never "none". */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;

/** OpenID Connect's default when a provider lists none. */
const DEFAULT_ALGORITHMS = ['RS256'];

export interface IssuerMetadata {
  readonly issuer: string;
  readonly jwksUri: URL;
  /** The asymmetric algorithms the provider lists for its signatures (RS256 when it lists none). */
  readonly algorithms: readonly string[];
  readonly introspectionEndpoint?: URL;
  /** Where a client is told to get a new token (RFC 7628's openid-configuration). */
  readonly documentUrl: string;
}

export class IssuerUnavailable extends Error {
  override readonly name = 'IssuerUnavailable';
}

/** The discovery document's address: OpenID Connect's, after the issuer's path. */
export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
}

/**
 * https, or http to a loopback address (a provider on the same host, and
 * the tests): anything else would let the network between the daemon and
 * the provider hand it keys.
 */
export function acceptableEndpoint(url: URL): boolean {
  if (url.protocol === 'https:') return true;
  if (url.protocol !== 'http:') return false;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || host === '::1';
}

function endpoint(document: Record<string, unknown>, field: string): URL | undefined {
  const value = document[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new IssuerUnavailable(`its discovery document's ${field} is not a string`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new IssuerUnavailable(`its discovery document's ${field} is not a URL`);
  }
  if (!acceptableEndpoint(url)) throw new IssuerUnavailable(`its discovery document's ${field} is neither https nor on this host`);
  return url;
}

/** The document's fields as the daemon uses them; throws IssuerUnavailable for a document that does not serve `issuer`. */
export function readIssuerMetadata(issuer: string, document: unknown): IssuerMetadata {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) throw new IssuerUnavailable('its discovery document is not a JSON object');
  const fields = document as Record<string, unknown>;
  if (fields.issuer !== issuer) throw new IssuerUnavailable(`its discovery document is for issuer ${JSON.stringify(String(fields.issuer)).slice(0, 200)}, not ${issuer}`);
  const jwksUri = endpoint(fields, 'jwks_uri');
  if (!jwksUri) throw new IssuerUnavailable('its discovery document has no jwks_uri');
  const listed = fields.id_token_signing_alg_values_supported;
  const algorithms = Array.isArray(listed) ? listed.filter((alg): alg is string => typeof alg === 'string' && (ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) : [];
  const introspectionEndpoint = endpoint(fields, 'introspection_endpoint');
  return { issuer, jwksUri, algorithms: algorithms.length > 0 ? algorithms : DEFAULT_ALGORITHMS, ...(introspectionEndpoint ? { introspectionEndpoint } : {}), documentUrl: discoveryUrl(issuer) };
}

/** GET a JSON document within the deadline and the size bound; IssuerUnavailable for anything else. */
export async function fetchJson(url: string, deadlineMs: number, init: RequestInit = {}): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(deadlineMs) });
  } catch (error) {
    throw new IssuerUnavailable((error as Error).name === 'TimeoutError' ? `no answer from ${url} within ${deadlineMs} ms` : `cannot reach ${url}: ${(error as Error).message}`);
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    throw new IssuerUnavailable(`${url} answered HTTP ${response.status}`);
  }
  const length = Number(response.headers.get('content-length') ?? 0);
  if (length > MAX_DOCUMENT_BYTES) {
    await response.body?.cancel();
    throw new IssuerUnavailable(`${url} sent ${length} bytes, more than ${MAX_DOCUMENT_BYTES}`);
  }
  const text = await boundedBody(url, response);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new IssuerUnavailable(`${url} did not send JSON`);
  }
}

/** The body, read as it arrives and abandoned past MAX_DOCUMENT_BYTES (a length header may be absent or lie). */
async function boundedBody(url: string, response: Response): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let received = 0;
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      received += chunk.byteLength;
      if (received > MAX_DOCUMENT_BYTES) {
        await response.body.cancel().catch(() => undefined);
        throw new IssuerUnavailable(`${url} sent more than ${MAX_DOCUMENT_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (error instanceof IssuerUnavailable) throw error;
    throw new IssuerUnavailable(`${url}: the body did not arrive: ${(error as Error).message}`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The discovery document of one issuer, read once it can be and kept; asked again at most once per `retryMs` while it cannot. */
export class IssuerDiscovery {
  readonly #issuer: string;
  readonly #deadlineMs: number;
  readonly #retryMs: number;
  #metadata: IssuerMetadata | undefined;
  #pending: Promise<IssuerMetadata> | undefined;
  #failure: { readonly at: number; readonly error: IssuerUnavailable } | undefined;

  constructor(issuer: string, deadlineMs: number, retryMs: number) {
    this.#issuer = issuer;
    this.#deadlineMs = deadlineMs;
    this.#retryMs = retryMs;
  }

  /** The metadata, or IssuerUnavailable (the last failure again within the retry interval). */
  async metadata(): Promise<IssuerMetadata> {
    if (this.#metadata) return this.#metadata;
    if (this.#failure && performance.now() - this.#failure.at < this.#retryMs) throw this.#failure.error;
    this.#pending ??= fetchJson(discoveryUrl(this.#issuer), this.#deadlineMs)
      .then((document) => {
        this.#metadata = readIssuerMetadata(this.#issuer, document);
        this.#failure = undefined;
        return this.#metadata;
      })
      .catch((error: unknown) => {
        const failure = error instanceof IssuerUnavailable ? error : new IssuerUnavailable(String(error));
        this.#failure = { at: performance.now(), error: failure };
        throw failure;
      })
      .finally(() => {
        this.#pending = undefined;
      });
    return this.#pending;
  }
}
