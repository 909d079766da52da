/**
 * One configuration's worth of request handling: a backend, its caches and
 * the authenticator over them. SIGHUP builds a new generation and switches
 * new requests to it; the old one keeps the requests it already started and
 * closes its backend once the last of them has answered. So a reload never
 * drops a login in flight, and the swap needs no lock.
 */
import type { Logger } from 'pino';
import type { DaemonConfig } from './config/daemon-config.js';
import { Authenticator, type Decision } from './auth/authenticator.js';
import { Rehasher } from './auth/rehash.js';
import type { FailureThrottle } from './auth/throttle.js';
import type { CompromiseWatch } from './auth/compromise-watch.js';
import { PasswordVerifier } from './crypt/verifier.js';
import type { VerifyPools } from './crypt/verify-pool.js';
import { PasswordDigester } from './cache/password-digest.js';
import { CachingVerifier } from './cache/caching-verifier.js';
import { CredentialCache } from './cache/credential-cache.js';
import type { LoginRequest } from './protocol/request.js';
import type { PolicyContext } from './auth/policy-guard.js';
import type { Hold } from './protocol/answering.js';
import type { Cancellation } from './common/cancellation.js';
import type { Backend } from './backends/backend.js';
import type { DaemonMetrics } from './metrics/daemon-metrics.js';
import type { TokenCheck } from './auth/token-login.js';

export interface GenerationParts {
  readonly config: DaemonConfig;
  readonly logger: Logger;
  readonly pools: VerifyPools;
  readonly throttle: FailureThrottle | undefined;
  /** The compromised-account signal, kept across reloads like the throttle. */
  readonly compromise?: CompromiseWatch | undefined;
  readonly metrics: DaemonMetrics | undefined;
  /** Built from `config` (backends/index.ts): this generation owns it and closes it when retired. */
  readonly backend: Backend;
  /** Checks bearer tokens when an identity provider is configured; kept across reloads with its keys. */
  readonly tokens?: TokenCheck | undefined;
}

export class AuthGeneration {
  readonly backend: Backend;
  /** What Dovecot's auth policy reads of this generation: its lookups count as requests in flight, like logins. */
  readonly policy: PolicyContext;
  readonly #authenticator: Authenticator;
  readonly #caches: ReadonlyArray<{ clear(): void }>;
  readonly #rehasher: Rehasher | undefined;
  #inFlight = 0;
  #retired: (() => void) | undefined;

  constructor({ config, backend, logger, pools, throttle, compromise, metrics, tokens }: GenerationParts) {
    this.backend = backend;
    const digester = new PasswordDigester();
    // --verify-cache sizes both never-stale caches: the passwords that matched a row and those that did not.
    const verifier = new PasswordVerifier({ defaultScheme: config.defaultScheme, pools, ceilings: config.ceilings });
    // The dummy check for unknown users takes the table's most common kind of value, where the backend can list them.
    backend
      .sampleStoredValues?.()
      .then((sample) => verifier.sampleTable(sample.values, sample.defaultScheme))
      .catch((error: unknown) => logger.debug({ error: (error as Error).message }, 'could not sample stored values; the dummy check counts them as logins arrive'));
    const passwords = new CachingVerifier(verifier, config.caches.verifiedEntries, digester);
    const credential = config.caches.credential;
    const credentialCache = credential ? new CredentialCache(credential.entries, credential.ttlMs, digester) : undefined;
    const outage = config.caches.outage;
    const outageCache = outage ? new CredentialCache(outage.entries, outage.ttlMs, digester) : undefined;
    this.#caches = [passwords, credentialCache, outageCache].filter((cache) => cache !== undefined);
    const rewriter = backend.rewriter;
    this.#rehasher = rewriter
      ? new Rehasher({
          rewriter,
          generate: (scheme, password, options) => pools.slow.generate(scheme, password, options),
          logger,
          ...(metrics ? { observe: (from, to, result) => metrics.observeRehash(from, to, result) } : {}),
        })
      : undefined;
    this.policy = {
      throttle,
      ...(compromise ? { compromise } : {}),
      realm: config.realm,
      successLevel: config.log.successes ? 'info' : 'debug',
      backend: { mechanism: backend.mechanism, lookup: (query, cancellation) => this.#inFlightWhile(() => backend.lookup(query, cancellation)) },
    };
    this.#authenticator = new Authenticator({
      backend: this.backend,
      realm: config.realm,
      passwords,
      logger,
      successLevel: config.log.successes ? 'info' : 'debug',
      ...(credentialCache ? { credentialCache } : {}),
      ...(outageCache ? { outageCache } : {}),
      ...(throttle ? { throttle } : {}),
      ...(compromise ? { compromise } : {}),
      ...(metrics ? { metrics } : {}),
      ...(this.#rehasher ? { rehash: this.#rehasher } : {}),
      ...(tokens ? { tokens } : {}),
    });
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** One login, decided by this generation; the protocol turns the decision into its answer (auth/mux-reply.ts, auth/dovecot-reply.ts). */
  authenticate(request: LoginRequest, cancellation: Cancellation, hold: Hold): Promise<Decision> {
    return this.#inFlightWhile(() => this.#authenticator.authenticate(request, cancellation, hold));
  }

  /** Work on this generation's backend: a retired generation closes it only once the last such work is done. */
  async #inFlightWhile<T>(work: () => Promise<T>): Promise<T> {
    this.#inFlight += 1;
    try {
      return await work();
    } finally {
      this.#inFlight -= 1;
      if (this.#inFlight === 0) this.#retired?.();
    }
  }

  flushCaches(): void {
    for (const cache of this.#caches) cache.clear();
  }

  /**
   * No new requests come here any more: close the backend once the ones in
   * flight have answered. Each of them ends by its answer deadline, so this does too.
   */
  async retire(): Promise<void> {
    this.flushCaches();
    if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#retired = resolve));
    // Re-hashes under way write on the backend's connections: they end by its query deadline.
    await this.#rehasher?.settle();
    await this.backend.close();
  }
}
