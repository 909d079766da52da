/**
 * One login, start to finish, as a short sequence of named steps:
 *
 *   read the request   names decoded once, the -r lookup key    read-request.ts
 *   recent success?    saslauthd -c skips everything below      cache/credential-cache.ts
 *   look up            the backend says what it found           backends/
 *   verify             the caching verifier judges the password cache/caching-verifier.ts, crypt/
 *   consult throttle   count the outcome, maybe hold it back    throttle.ts
 *   report             one log line, metrics                    auth-log.ts
 *
 * and hands back the Outcome; the protocol turns it into its answer
 * (mux-reply.ts). The safety rules, each in exactly one step:
 *   only a verified match (or a cache of one) is a success;
 *   a backend that could not answer is a temporary failure, never a "no";
 *   a login with no usable row costs a hash, like a wrong password.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { AuthRequest } from '../protocol/codec.js';
import type { Cancellation } from '../common/cancellation.js';
import type { Backend, LookupQuery, LookupResult } from '../backends/backend.js';
import type { RealmPolicy } from '../realm/login-key.js';
import type { VerifyOptions } from '../crypt/verifier.js';
import type { CheckedVerdict, PasswordCheck } from '../cache/caching-verifier.js';
import type { RecentSuccesses } from '../cache/credential-cache.js';
import { describeError, ErrorCodes } from '../errors.js';
import { authLogLevel, escapeField, logAuthEvent, type AuthEvent, type SuccessLevel } from './auth-log.js';
import type { LoginNames, Outcome } from './outcome.js';
import { readRequest } from './read-request.js';
import { clientAddressOf, type FailureThrottle, type NameKind } from './throttle.js';

/** Monotonic milliseconds, for how long a login took. */
export interface Clock {
  now(): number;
}

export interface AuthenticatorOptions {
  readonly backend: Pick<Backend, 'mechanism' | 'lookup'>;
  readonly realm: RealmPolicy;
  /** The password check, with the never-stale caches around the verifier. */
  readonly passwords: PasswordCheck;
  readonly logger: Logger;
  /** info logs every success (-V, as saslauthd -V); debug (the default) only when debugging. */
  readonly successLevel?: SuccessLevel;
  /** saslauthd -c: skips the lookup for recent successes. */
  readonly credentialCache?: RecentSuccesses;
  /** Recent successes answered while the backend cannot be reached (off unless configured). */
  readonly outageCache?: RecentSuccesses;
  /** Delays answers after repeated failures; shared across reloads so a reload cannot reset it. */
  readonly throttle?: FailureThrottle;
  /** Told about every finished authentication (Prometheus metrics), when enabled. */
  readonly metrics?: { observe(event: AuthEvent): void };
  readonly clock?: Clock;
}

const SUCCESS_FROM_CREDENTIAL_CACHE: Outcome = Object.freeze({ result: 'success', cache: 'credential' });
const UNKNOWN_USER: Outcome = Object.freeze({ result: 'failure', code: ErrorCodes.UNKNOWN_USER, reason: 'unknown user' });

export class Authenticator {
  readonly #options: AuthenticatorOptions;
  readonly #clock: Clock;

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
    this.#clock = options.clock ?? performance;
  }

  async authenticate(request: AuthRequest, cancellation: Cancellation): Promise<Outcome> {
    const started = this.#clock.now();
    const read = readRequest(request, this.#options.realm, this.#options.backend.mechanism);
    const decided = read.ok ? await this.#decide(read.query, request.password.reveal(), cancellation) : { outcome: read.refusal, name: 'not-a-name' as const };
    const { outcome } = decided;
    const names = decided.canonical === undefined || decided.canonical === read.names.user ? read.names : { ...read.names, user: decided.canonical, requested: read.names.user };
    const durationMs = Math.round((this.#clock.now() - started) * 1000) / 1000;
    const delayMs = this.#consultThrottle(names, outcome, decided.name);
    this.#report(names, outcome, durationMs, delayMs);
    if (delayMs > 0) await holdBack(delayMs, cancellation);
    return outcome;
  }

  /** The outcome, whether the name had a row (the throttle counts the two apart), and the row's own name. */
  async #decide(query: LookupQuery, password: Buffer, cancellation: Cancellation): Promise<{ readonly outcome: Outcome; readonly name: NameKind; readonly canonical?: string }> {
    const { credentialCache, outageCache, passwords } = this.#options;
    if (credentialCache?.hit(query.user, query.realm, query.service, password)) return { outcome: SUCCESS_FROM_CREDENTIAL_CACHE, name: 'has-row' };
    let found: LookupResult;
    try {
      found = await this.#options.backend.lookup(query, cancellation);
    } catch (error) {
      // A backend that throws could not answer either.
      found = { status: 'unavailable', code: ErrorCodes.BACKEND_UNAVAILABLE, reason: describeError(error).message };
    }
    if (found.status === 'unavailable') {
      const reason = `backend unavailable: ${found.reason}`;
      // Only when the backend cannot answer: a real "no" from it is never overridden. A backend that is up
      // but has no free connection is not an outage: the cache must not stand in for a working database.
      if (found.code !== ErrorCodes.BACKEND_BUSY && outageCache?.hit(query.user, query.realm, query.service, password)) return { outcome: { result: 'success', cache: 'outage', reason }, name: 'has-row' };
      return { outcome: { result: 'temporary-failure', code: found.code, reason }, name: 'no-row' };
    }
    const options: VerifyOptions = found.defaultScheme === undefined ? { cancellation } : { cancellation, defaultScheme: found.defaultScheme };
    if (found.status !== 'found') {
      // Spellings of one name that finds no row share its rejected-cache entry (and throttle count).
      const { cache } = await passwords.checkNoRow(normalizedName(query.user), password, options);
      const refusal = found.status === 'unknown' ? UNKNOWN_USER : ({ result: 'failure', code: found.code, reason: found.reason } as const);
      return { outcome: cache ? { ...refusal, cache } : refusal, name: 'no-row' };
    }
    // The row's own name: "ALICE" and "alice " that a collation matched to the row "alice" are one user to the caches.
    const user = found.user ?? query.user;
    const outcome = outcomeOf(await passwords.check(user, { stored: found.storedHash, defaultScheme: found.defaultScheme }, password, options));
    if (outcome.result === 'success') {
      credentialCache?.remember(query.user, query.realm, query.service, password);
      outageCache?.remember(query.user, query.realm, query.service, password);
    }
    return { outcome, name: 'has-row', canonical: user };
  }

  /**
   * Count the outcome and say how long to hold the answer. Temporary failures
   * neither count nor wait: they are our trouble, not the client's.
   */
  #consultThrottle(names: LoginNames, outcome: Outcome, name: NameKind): number {
    const throttle = this.#options.throttle;
    if (!throttle || outcome.result === 'temporary-failure') return 0;
    const address = names.remote === undefined ? undefined : clientAddressOf(names.remote);
    const failed = outcome.result === 'failure';
    // A name with no row is counted under its normalised spelling, so "Nobody", "nobody " and "ｎobody" are one key.
    const key = name === 'no-row' ? normalizedName(names.user) : names.user;
    const decision = throttle.decide(key, address, failed, name);
    if (failed) {
      const counts = throttle.recordFailure(key, address, name);
      const after = throttle.afterFailures;
      // One line when a name or an address crosses the threshold, for fail2ban and for people.
      const log = this.#options.logger;
      if (counts.user === after && name !== 'not-a-name') log.warn({ event: 'throttle', by: 'user', user: names.user, failures: after }, `throttling: [user=${escapeField(names.user)}] [failures=${after}]`);
      if (counts.address === after) log.warn({ event: 'throttle', by: 'address', remote: address, failures: after }, `throttling: [remote=${escapeField(address!)}] [failures=${after}]`);
    } else {
      throttle.recordSuccess(key);
    }
    return decision?.delayMs ?? 0;
  }

  #report(names: LoginNames, outcome: Outcome, durationMs: number, delayMs: number): void {
    const { logger, successLevel, metrics } = this.#options;
    // The event is built only for someone: most successes are neither logged nor counted.
    if (!metrics && !logger.isLevelEnabled(authLogLevel(outcome.result, successLevel))) return;
    const event: AuthEvent = { ...names, ...outcome, durationMs, ...(delayMs > 0 ? { delayMs } : {}) };
    logAuthEvent(logger, event, successLevel);
    metrics?.observe(event);
  }
}

/**
 * One key for the spellings of a name a common collation (utf8mb4_general_ci and
 * its kin) treats alike: compatibility forms and accents folded, case folded,
 * outer spaces dropped. Only for names with no row: a found row's own name is
 * the key for those.
 */
export function normalizedName(name: string): string {
  return name.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().trim();
}

/** What a verdict on the row's password means for the login. */
function outcomeOf(verdict: CheckedVerdict): Outcome {
  const { scheme } = verdict;
  const cache = verdict.cache === undefined ? {} : { cache: verdict.cache };
  switch (verdict.status) {
    case 'match':
      return { result: 'success', scheme, ...cache };
    case 'mismatch':
      return { result: 'failure', code: ErrorCodes.WRONG_PASSWORD, reason: 'wrong password', scheme, ...cache };
    case 'unsupported':
      return { result: 'failure', code: ErrorCodes.UNSUPPORTED_SCHEME, reason: verdict.reason, scheme };
    case 'over-ceiling':
      return { result: 'failure', code: ErrorCodes.COST_CEILING, reason: verdict.reason, scheme };
    case 'overloaded':
      return { result: 'temporary-failure', code: ErrorCodes.VERIFY_OVERLOADED, reason: 'verification queue full', scheme };
    case 'abandoned':
      return { result: 'temporary-failure', code: ErrorCodes.ABANDONED, reason: 'verification abandoned: nobody waits for the answer any more', scheme };
  }
}

async function holdBack(delayMs: number, cancellation: Cancellation): Promise<void> {
  try {
    await sleep(delayMs, undefined, { signal: cancellation.signal });
  } catch {
    // The connection went away or its deadline passed: nobody is waiting any more.
  }
}
