/**
 * One request's way through the daemon: names -> lookup key -> backend ->
 * verifier -> reply, with exactly one log line at the end. The mapping of
 * outcomes to replies is the safety core:
 *   match                      -> OK
 *   wrong password, unknown
 *   user, refused, bad value   -> NO (permanent, Postfix 535)
 *   backend could not answer   -> no reply (temporary, Postfix 454)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { AuthRequest } from '../protocol/codec.js';
import type { Cancellation } from '../protocol/cancellation.js';
import { NO_ANSWER, REPLY_AUTH_FAILED, REPLY_OK, type Reply } from '../protocol/replies.js';
import type { Backend, LookupResult } from '../backends/backend.js';
import { resolveLoginKey, type RealmPolicy } from '../realm/login-key.js';
import { decodeName, escapeForLog } from '../realm/text.js';
import type { PasswordVerifier, VerifyOptions } from '../crypt/verifier.js';
import type { VerifiedPasswordCache } from '../cache/verified-cache.js';
import type { RejectedPasswordCache } from '../cache/rejected-cache.js';
import { PasswordDigester } from '../cache/password-digest.js';
import type { CredentialCache } from '../cache/credential-cache.js';
import { describeError, ErrorCodes } from '../errors.js';
import { authLogLevel, logAuthEvent, type AuthEvent, type SuccessLevel } from './auth-log.js';
import { clientAddressOf, type FailureThrottle } from './throttle.js';

export interface AuthenticatorOptions {
  readonly backend: Backend;
  readonly realm: RealmPolicy;
  readonly verifier: PasswordVerifier;
  readonly logger: Logger;
  /** info logs every success (-V, as saslauthd -V); debug (the default) only when debugging. */
  readonly successLevel?: SuccessLevel;
  /** Skips the hash when the stored value is unchanged and the password verified against it before. */
  readonly verifiedCache?: VerifiedPasswordCache;
  /** Skips the hash when the row is unchanged and this password failed against it before. */
  readonly rejectedCache?: RejectedPasswordCache;
  /** Keys the digests the verified and rejected caches hold (one per generation; made here if not given). */
  readonly digester?: PasswordDigester;
  /** saslauthd -c: skips the lookup for recent successes. */
  readonly credentialCache?: CredentialCache;
  /** Recent successes answered while the backend cannot be reached (off unless configured). */
  readonly outageCache?: CredentialCache;
  /** Delays answers after repeated failures; shared across reloads so a reload cannot reset it. */
  readonly throttle?: FailureThrottle;
  /** Told about every finished authentication (Prometheus metrics), when enabled. */
  readonly metrics?: { observe(event: AuthEvent): void };
}

type Facts = Omit<AuthEvent, 'result' | 'durationMs' | 'code' | 'reason' | 'scheme' | 'cache' | 'delayMs'>;
type Outcome = Omit<AuthEvent, keyof Facts | 'durationMs' | 'delayMs'>;

/** A decided answer, before it is logged and (perhaps) held back by the throttle. */
interface Decision {
  readonly reply: Reply;
  readonly outcome: Outcome;
  readonly facts: Facts;
}

export class Authenticator {
  readonly #options: AuthenticatorOptions;
  readonly #digester: PasswordDigester;

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
    this.#digester = options.digester ?? new PasswordDigester();
  }

  async authenticate(request: AuthRequest, cancellation: Cancellation): Promise<Reply> {
    const started = performance.now();
    const { reply, outcome, facts } = await this.#decide(request, cancellation);
    const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
    const delayMs = this.#throttle(facts, outcome);
    const { logger, successLevel, metrics } = this.#options;
    // The event is built only for someone: most successes are neither logged nor counted.
    if (metrics || logger.isLevelEnabled(authLogLevel(outcome.result, successLevel))) {
      const event: AuthEvent = { ...facts, ...outcome, durationMs, ...(delayMs > 0 ? { delayMs } : {}) };
      logAuthEvent(logger, event, successLevel);
      metrics?.observe(event);
    }
    if (delayMs > 0) {
      try {
        await sleep(delayMs, undefined, { signal: cancellation.signal });
      } catch {
        // The connection went away or its deadline passed: nobody is waiting any more.
      }
    }
    return reply;
  }

  /**
   * Count the outcome and say how long to hold the answer. Temporary failures
   * neither count nor wait: they are our trouble, not the client's.
   */
  #throttle(facts: Facts, outcome: Outcome): number {
    const throttle = this.#options.throttle;
    if (!throttle || outcome.result === 'temporary-failure') return 0;
    const address = facts.remote === undefined ? undefined : clientAddressOf(facts.remote);
    const failed = outcome.result === 'failure';
    const decision = throttle.decide(facts.user, address, failed);
    if (failed) {
      const counts = throttle.recordFailure(facts.user, address);
      const after = throttle.afterFailures;
      // One line when a name or an address crosses the threshold, for fail2ban and for people.
      if (counts.user === after) this.#options.logger.warn({ event: 'throttle', by: 'user', user: facts.user, failures: after }, `throttling: [user=${facts.user}] [failures=${after}]`);
      if (counts.address === after) this.#options.logger.warn({ event: 'throttle', by: 'address', remote: address, failures: after }, `throttling: [remote=${address}] [failures=${after}]`);
    } else {
      throttle.recordSuccess(facts.user);
    }
    return decision?.delayMs ?? 0;
  }

  async #decide(request: AuthRequest, cancellation: Cancellation): Promise<Decision> {
    const { backend } = this.#options;
    const service = decodeName(request.service);
    const remote = request.clientAddress === undefined ? undefined : printable(request.clientAddress);
    // Names as they arrived, until the lookup key replaces user and realm. Written in place,
    // not copied per answer: a spread of these objects was a fifth of what a cached login allocated.
    const facts: { -readonly [K in keyof Facts]: Facts[K] } = {
      user: printable(request.login),
      service: service.ok ? service.text : escapeForLog(request.service),
      realm: printable(request.realm),
      mech: backend.mechanism,
      ...(remote === undefined ? {} : { remote }),
    };
    const finish = (reply: Reply, outcome: Outcome): Decision => ({ reply, outcome, facts });

    const resolved = resolveLoginKey(request.login, request.realm, this.#options.realm);
    if (!resolved.ok) {
      return finish(REPLY_AUTH_FAILED, {
        result: 'failure',
        code: ErrorCodes.INVALID_LOGIN,
        reason: `invalid ${resolved.field}: ${resolved.problem}`,
      });
    }
    const { user, realm } = resolved.key;
    facts.user = user;
    facts.realm = realm;
    if (!service.ok) {
      return finish(REPLY_AUTH_FAILED, { result: 'failure', code: ErrorCodes.INVALID_SERVICE, reason: `invalid service: ${service.problem}` });
    }

    const { verifiedCache, rejectedCache, credentialCache, outageCache } = this.#options;
    if (credentialCache?.hit(user, realm, service.text, request.password.reveal())) {
      return finish(REPLY_OK, { result: 'success', cache: 'credential' });
    }

    let found: LookupResult;
    try {
      found = await backend.lookup({ user, realm, service: service.text }, cancellation);
    } catch (error) {
      const { message } = describeError(error);
      found = { status: 'unavailable', code: ErrorCodes.BACKEND_UNAVAILABLE, reason: message };
    }

    const password = request.password.reveal();
    const verifyOptions = found.defaultScheme === undefined ? { cancellation } : { cancellation, defaultScheme: found.defaultScheme };
    switch (found.status) {
      case 'unavailable':
        // Only when the backend cannot answer: a real "no" from it is never overridden.
        if (outageCache?.hit(user, realm, service.text, password)) {
          return finish(REPLY_OK, { result: 'success', cache: 'outage', reason: `backend unavailable: ${found.reason}` });
        }
        return finish(NO_ANSWER, { result: 'temporary-failure', code: found.code, reason: `backend unavailable: ${found.reason}` });
      case 'unknown': {
        const cache = await this.#spendDummyHash(user, password, verifyOptions);
        return finish(REPLY_AUTH_FAILED, { result: 'failure', code: ErrorCodes.UNKNOWN_USER, reason: 'unknown user', ...cache });
      }
      case 'refused': {
        const cache = await this.#spendDummyHash(user, password, verifyOptions);
        return finish(REPLY_AUTH_FAILED, { result: 'failure', code: found.code, reason: found.reason, ...cache });
      }
      case 'found': {
        const digest = verifiedCache || rejectedCache ? this.#digester.once(password) : undefined;
        const cachedScheme = digest && verifiedCache?.lookup(user, found.storedHash, found.defaultScheme, digest);
        if (cachedScheme !== undefined) return finish(REPLY_OK, { result: 'success', scheme: cachedScheme, cache: 'verified' });
        const against = { stored: found.storedHash, defaultScheme: found.defaultScheme };
        const rejected = digest && rejectedCache?.lookup(user, against, digest);
        if (rejected) {
          return finish(REPLY_AUTH_FAILED, { result: 'failure', code: ErrorCodes.WRONG_PASSWORD, reason: 'wrong password', ...(rejected.scheme === undefined ? {} : { scheme: rejected.scheme }), cache: 'rejected' });
        }
        const verdict = await this.#options.verifier.verify(password, found.storedHash, verifyOptions);
        if (verdict.status === 'overloaded') {
          return finish(NO_ANSWER, { result: 'temporary-failure', code: ErrorCodes.VERIFY_OVERLOADED, reason: `verification ${verdict.reason === 'queue full' ? 'queue full' : 'abandoned (answer deadline passed)'}`, scheme: verdict.scheme });
        }
        if (verdict.status === 'match') {
          if (digest) verifiedCache?.remember(user, found.storedHash, found.defaultScheme, digest, verdict.scheme);
          credentialCache?.remember(user, realm, service.text, password);
          outageCache?.remember(user, realm, service.text, password);
          return finish(REPLY_OK, { result: 'success', scheme: verdict.scheme });
        }
        if (verdict.status === 'mismatch') {
          if (digest) rejectedCache?.remember(user, against, digest, verdict.scheme);
          return finish(REPLY_AUTH_FAILED, { result: 'failure', code: ErrorCodes.WRONG_PASSWORD, reason: 'wrong password', scheme: verdict.scheme });
        }
        return finish(REPLY_AUTH_FAILED, { result: 'failure', code: ErrorCodes.UNSUPPORTED_SCHEME, reason: verdict.reason, scheme: verdict.scheme });
      }
    }
  }

  /**
   * A login with no usable row still spends a hash, so that it takes as long
   * as a wrong password and timing does not tell which names exist. A repeat
   * of a password that already failed here skips it, as a repeated wrong
   * password for a real user does (the rejected cache), for the same reason.
   */
  async #spendDummyHash(user: string, password: Buffer, verifyOptions: VerifyOptions): Promise<{ cache?: 'rejected' }> {
    const { rejectedCache, verifier } = this.#options;
    const digest = rejectedCache ? this.#digester.once(password) : undefined;
    if (digest && rejectedCache?.lookup(user, 'no-usable-row', digest)) return { cache: 'rejected' };
    await verifier.verifyDummy(password, verifyOptions);
    if (digest) rejectedCache?.remember(user, 'no-usable-row', digest, undefined);
    return {};
  }
}

/** Names as they arrived, made safe to print even when they are not valid text. */
function printable(bytes: Buffer): string {
  const decoded = decodeName(bytes);
  return decoded.ok ? decoded.text : escapeForLog(bytes);
}
