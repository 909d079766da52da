/**
 * One login, start to finish, as a short sequence of named steps:
 *
 *   read the request   names decoded once, the -r lookup key    read-request.ts
 *   recall             saslauthd -c skips the lookup            cache/credential-cache.ts
 *   look up            the backend says what it found           backends/
 *   verify             the caching verifier judges the password cache/caching-verifier.ts, crypt/
 *   settle             the throttle counts it, maybe holds it   throttle.ts
 *   report             one log line, metrics                    auth-log.ts
 *
 * Before any password is evaluated the login claims its turn at the
 * throttle (throttle.ts's Turn); that is all it knows of the throttle. It
 * hands back the outcome and the name it was decided under; the protocol
 * turns them into its answer (mux-reply.ts, dovecot-reply.ts). The safety
 * rules, each in exactly one step:
 *   only a verified match (or a cache of one) is a success;
 *   a backend that could not answer is a temporary failure, never a "no";
 *   a login with no usable row costs a hash, like a wrong password.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { LoginRequest } from '../protocol/request.js';
import type { Hold } from '../protocol/answering.js';
import type { Cancellation } from '../common/cancellation.js';
import type { Backend, Candidate, LookupQuery, LookupResult } from '../backends/backend.js';
import { normalizedName, type RealmPolicy } from '../realm/login-key.js';
import type { VerifyOptions } from '../crypt/verifier.js';
import type { CheckedVerdict, PasswordCheck } from '../cache/caching-verifier.js';
import type { RecentSuccesses } from '../cache/credential-cache.js';
import { describeError, ErrorCodes } from '../errors.js';
import { authEvent, authLogLevel, escapeField, logAuthEvent, type AuthEvent, type SuccessLevel } from './auth-log.js';
import type { LoginNames, Outcome } from './outcome.js';
import { readRequest } from './read-request.js';
import { NO_TURN, type FailureThrottle, type Turn } from './throttle.js';
import { SENDING_SERVICES, type CompromiseWatch } from './compromise-watch.js';
import { tokenOutcome, type TokenCheck } from './token-login.js';
import type { TokenMechanism } from '../protocol/sasl-token.js';

/** A success with the account's own password, for re-hashing (auth/rehash.ts). */
export interface SuccessfulPassword {
  /** The row's own name. */
  readonly user: string;
  readonly stored: string;
  /** The scheme the verifier read the value with. */
  readonly scheme: string;
  /** The request's bytes, wiped once the answer is sent: copy what is kept. */
  readonly password: Buffer;
}

export interface RehashOnLogin {
  /** Returns at once: whatever it does happens after the answer, and never changes it. */
  consider(success: SuccessfulPassword): void;
}

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
  /** Re-hashing on login, when configured: told about each success with the account's own password. */
  readonly rehash?: RehashOnLogin;
  /** The compromised-account signal (compromise-watch.ts): told about each success from a known address; may refuse sending logins. */
  readonly compromise?: Pick<CompromiseWatch, 'success' | 'blocking' | 'isBlocked'>;
  /** Checks bearer tokens (OAUTHBEARER, XOAUTH2), when an identity provider is configured. */
  readonly tokens?: TokenCheck;
  /** Told about every finished authentication (Prometheus metrics), when enabled. */
  readonly metrics?: { observe(event: AuthEvent): void };
  readonly clock?: Clock;
}

/** What a login was decided as: the outcome, and the name it was decided under (the row's own when a row said it). */
export interface Decision {
  readonly outcome: Outcome;
  readonly user: string;
}

const SUCCESS_FROM_CREDENTIAL_CACHE: Outcome = Object.freeze({ result: 'success', cache: 'credential' });
const UNKNOWN_USER: Outcome = Object.freeze({ result: 'failure', code: ErrorCodes.UNKNOWN_USER, reason: 'unknown user' });
const NO_ROOM_TO_HOLD: Outcome = Object.freeze({ result: 'temporary-failure', code: ErrorCodes.THROTTLE_BUSY, reason: 'no room left to hold answers for throttled users and addresses' });

/** What deciding a login produced, before it is settled and reported. */
interface Decided {
  readonly outcome: Outcome;
  /** The row's own name, when a row (or a cache of one) said it. */
  readonly canonical?: string;
}

export class Authenticator {
  readonly #options: AuthenticatorOptions;
  readonly #clock: Clock;

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
    this.#clock = options.clock ?? performance;
  }

  /** `hold` is how the connection is told that the answer now waits on the throttle rather than on work (a turn to wait for, a delay to sit out). */
  async authenticate(request: LoginRequest, cancellation: Cancellation, hold: Hold): Promise<Decision> {
    const started = this.#clock.now();
    const read = readRequest(request, this.#options.realm, this.#options.backend.mechanism);
    const turn = this.#options.throttle?.turn(request.client?.address, cancellation, hold) ?? NO_TURN;
    let decided: Decided;
    if (read.ok) {
      decided = request.token
        ? await this.#decideToken(read.query, request.token, request.password.reveal(), turn, cancellation)
        : await this.#decide(read.query, request.password.reveal(), turn, cancellation);
    } else {
      // Refused before its lookup: no password is evaluated, and the name counts under the key all such names share.
      await turn.claim(read.names.user, 'not-a-name');
      decided = { outcome: read.refusal };
    }
    const names = decided.canonical === undefined || decided.canonical === read.names.user ? read.names : Object.assign({}, read.names, { user: decided.canonical, requested: read.names.user });
    const durationMs = Math.round((this.#clock.now() - started) * 1000) / 1000;
    let outcome = decided.outcome;
    let delayMs = turn.settle(outcome, names.user);
    // After the throttle: a blocked account's right password is no guess, and counts as none.
    if (outcome.result === 'success' && this.#options.compromise) outcome = await this.#watch(this.#options.compromise, names, request, outcome);
    // No room to hold the answer: it is not given early either (the delay is what bounds the guessing).
    if (delayMs > 0 && !hold()) {
      outcome = NO_ROOM_TO_HOLD;
      delayMs = 0;
    }
    this.#report(names, outcome, durationMs, delayMs);
    if (delayMs > 0) await holdBack(delayMs, cancellation);
    return { outcome, user: names.user };
  }

  /** The compromise watch sees the success; a blocked account's sending login is refused all the same. */
  async #watch(watch: NonNullable<AuthenticatorOptions['compromise']>, names: LoginNames, request: LoginRequest, outcome: Outcome): Promise<Outcome> {
    if (watch.blocking && SENDING_SERVICES.has(names.service.toLowerCase()) && (await watch.isBlocked(names.user))) {
      return { result: 'failure', code: ErrorCodes.COMPROMISE_BLOCKED, reason: 'sending logins refused after the compromise signal (the password was right); saslauthd-mysql unblock ends it', ...(outcome.scheme ? { scheme: outcome.scheme } : {}) };
    }
    if (request.client) watch.success(names.user, request.client.address, names.service);
    return outcome;
  }

  async #decide(query: LookupQuery, password: Buffer, turn: Turn, cancellation: Cancellation): Promise<Decided> {
    const { credentialCache } = this.#options;
    // saslauthd -c: a recent success skips the lookup, but its check still waits for the user's turn.
    const recalled = credentialCache?.recall(query.user, query.realm, query.service);
    if (recalled) {
      const refused = await turn.claim(recalled.user, 'has-row');
      if (refused) return { outcome: refused };
      if (credentialCache!.confirms(recalled, password)) return { outcome: SUCCESS_FROM_CREDENTIAL_CACHE, canonical: recalled.user };
    }
    // Most logins name a row under its own spelling: the throttle's shared count starts beside the lookup.
    turn.expect(query.user);
    const found = await this.#lookUp(query, cancellation);
    const options: VerifyOptions = found.defaultScheme === undefined ? { cancellation } : { cancellation, defaultScheme: found.defaultScheme };
    switch (found.status) {
      case 'found':
        return this.#verify(query, found, password, turn, options);
      case 'unknown':
      case 'refused':
        return this.#noRow(query, found, password, turn, options);
      case 'unavailable':
        return this.#unavailable(query, found, password, turn);
      case 'misconfigured':
        // The configuration's fault, not the user's: retry later, and the log says what to fix. No cache stands in for it.
        return { outcome: { result: 'temporary-failure', code: found.code, reason: found.reason } };
    }
  }

  /**
   * A bearer token for the mailbox the client names: the row is looked up and
   * the attempt counted under it before the token is checked, as for a
   * password, and a name without a row has its token checked all the same
   * (the time does not tell which names exist).
   */
  async #decideToken(query: LookupQuery, mechanism: TokenMechanism, token: Buffer, turn: Turn, cancellation: Cancellation): Promise<Decided> {
    const { tokens } = this.#options;
    if (!tokens) return { outcome: { result: 'temporary-failure', code: ErrorCodes.INTERNAL, reason: `${mechanism} with no identity provider configured` } };
    turn.expect(query.user);
    const found = await this.#lookUp(query, cancellation);
    switch (found.status) {
      case 'found': {
        const user = found.user ?? query.user;
        const refused = await turn.claim(user, 'has-row');
        if (refused) return { outcome: refused };
        return { outcome: tokenOutcome(await tokens.verify(token), mechanism, user, query.user), canonical: user };
      }
      case 'unknown':
      case 'refused': {
        const refused = await turn.claim(normalizedName(query.user), 'no-row');
        if (refused) return { outcome: refused };
        const verdict = await tokens.verify(token);
        if (verdict.kind === 'unavailable') return { outcome: tokenOutcome(verdict, mechanism, query.user, query.user) };
        return { outcome: found.status === 'unknown' ? UNKNOWN_USER : { result: 'failure', code: found.code, reason: found.reason } };
      }
      case 'unavailable':
        // The outage cache remembers passwords, never tokens.
        return { outcome: { result: 'temporary-failure', code: found.code, reason: found.code === ErrorCodes.BACKEND_UNAVAILABLE ? `backend unavailable: ${found.reason}` : found.reason } };
      case 'misconfigured':
        return { outcome: { result: 'temporary-failure', code: found.code, reason: found.reason } };
    }
  }

  async #lookUp(query: LookupQuery, cancellation: Cancellation): Promise<LookupResult> {
    let found: LookupResult;
    const started = this.#clock.now();
    try {
      found = await this.#options.backend.lookup(query, cancellation);
    } catch (error) {
      // A backend that throws could not answer either.
      found = { status: 'unavailable', code: ErrorCodes.BACKEND_UNAVAILABLE, reason: describeError(error).message };
    }
    this.#traceLookup(query, found, this.#clock.now() - started);
    return found;
  }

  /** The row's values against the password, under the row's own name: "ALICE" and "alice " that a collation matched to the row "alice" are one user to the caches. */
  async #verify(query: LookupQuery, found: Extract<LookupResult, { status: 'found' }>, password: Buffer, turn: Turn, options: VerifyOptions): Promise<Decided> {
    const { credentialCache, outageCache, passwords } = this.#options;
    const user = found.user ?? query.user;
    const refused = await turn.claim(user, 'has-row');
    if (refused) return { outcome: refused };
    const { candidates } = found;
    const verdict = await passwords.check(user, { candidates: candidates.map((candidate) => candidate.stored), defaultScheme: found.defaultScheme }, password, options);
    const { outcome, matched } = judge(verdict, candidates);
    if (outcome.result === 'success') {
      // Only here: never after a -c or outage-cache answer, which saw no row.
      if (matched?.role === 'password') this.#options.rehash?.consider({ user, stored: matched.stored, scheme: outcome.scheme ?? '', password });
      credentialCache?.remember(query.user, query.realm, query.service, password, user);
      outageCache?.remember(query.user, query.realm, query.service, password, user);
    }
    return { outcome, canonical: user };
  }

  /** No usable row: a dummy check spends what a real one would, so the time does not tell which names exist. */
  async #noRow(query: LookupQuery, found: Extract<LookupResult, { status: 'unknown' | 'refused' }>, password: Buffer, turn: Turn, options: VerifyOptions): Promise<Decided> {
    // Spellings of one name that finds no row share its rejected-cache entry and throttle count.
    const key = normalizedName(query.user);
    const refused = await turn.claim(key, 'no-row');
    if (refused) return { outcome: refused };
    const { cache } = await this.#options.passwords.checkNoRow(key, password, options);
    const refusal = found.status === 'unknown' ? UNKNOWN_USER : ({ result: 'failure', code: found.code, reason: found.reason } as const);
    return { outcome: cache ? Object.assign({}, refusal, { cache }) : refusal };
  }

  /**
   * The backend could not answer: a temporary failure, unless the database
   * is unreachable and the outage cache remembers this password. A real "no"
   * from it is never overridden, and neither a database that is up with no
   * free connection nor one that answers with an error is an outage.
   */
  async #unavailable(query: LookupQuery, found: Extract<LookupResult, { status: 'unavailable' }>, password: Buffer, turn: Turn): Promise<Decided> {
    const reason = found.code === ErrorCodes.BACKEND_UNAVAILABLE ? `backend unavailable: ${found.reason}` : found.reason;
    const unavailable: Outcome = { result: 'temporary-failure', code: found.code, reason };
    const { outageCache } = this.#options;
    const remembered = found.code === ErrorCodes.BACKEND_UNAVAILABLE ? outageCache?.recall(query.user, query.realm, query.service) : undefined;
    if (!remembered) return { outcome: unavailable };
    const refused = await turn.claim(remembered.user, 'has-row');
    if (refused) return { outcome: refused };
    const outcome: Outcome = outageCache!.confirms(remembered, password) ? { result: 'success', cache: 'outage', reason } : unavailable;
    return { outcome, canonical: remembered.user };
  }

  /** -d: one line for the lookup, the step the final auth line says least about. Built only when debugging. */
  #traceLookup(query: LookupQuery, found: LookupResult, ms: number): void {
    const { logger } = this.#options;
    if (!logger.isLevelEnabled('debug')) return;
    const row = found.status === 'found' ? `found${found.user !== undefined && found.user !== query.user ? ` as ${escapeField(found.user)}` : ''}` : found.status;
    const why = 'reason' in found ? `: ${found.reason}` : '';
    logger.debug({ lookupMs: Math.round(ms * 1000) / 1000 }, `lookup [user=${escapeField(query.user)}] [service=${escapeField(query.service)}]: ${row}${why}`);
  }

  #report(names: LoginNames, outcome: Outcome, durationMs: number, delayMs: number): void {
    const { logger, successLevel, metrics } = this.#options;
    // The event is built only for someone: most successes are neither logged nor counted.
    if (!metrics && !logger.isLevelEnabled(authLogLevel(outcome.result, successLevel))) return;
    const event = authEvent(names, outcome, durationMs, delayMs);
    logAuthEvent(logger, event, successLevel);
    metrics?.observe(event);
  }
}

/**
 * What a verdict on the row's values means for the login, and the value that
 * let it in. A value that matched but is refused (an expired password, TOTP)
 * lets nobody in; another value that matched and is not refused does.
 */
function judge(verdict: CheckedVerdict, candidates: readonly Candidate[]): { readonly outcome: Outcome; readonly matched?: Candidate } {
  if (verdict.status !== 'match') return { outcome: outcomeOf(verdict) };
  const allowed = verdict.matched.find((index) => candidates[index]!.refusal === undefined);
  if (allowed !== undefined) {
    const matched = candidates[allowed]!;
    return { outcome: outcomeOf(verdict), matched };
  }
  const { refusal } = candidates[verdict.matched[0]!]!;
  return { outcome: { result: 'failure', code: refusal!.code, reason: `${refusal!.reason} (the password was right)`, scheme: verdict.scheme, ...(verdict.cache === undefined ? {} : { cache: verdict.cache }) } };
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
    case 'locked':
      return { result: 'failure', code: ErrorCodes.ACCOUNT_LOCKED, reason: verdict.reason, scheme };
    // The rest is the configuration's or the row's fault, never the user's: a temporary failure the log explains,
    // which still counts as a guess (candidates.ts), or guessing a row nobody can log in to would cost nothing.
    case 'unsupported':
      return { result: 'temporary-failure', code: ErrorCodes.UNSUPPORTED_SCHEME, reason: verdict.reason, scheme, countsAsGuess: true };
    case 'malformed':
      return { result: 'temporary-failure', code: ErrorCodes.MALFORMED_STORED_VALUE, reason: verdict.reason, scheme, countsAsGuess: true };
    case 'over-ceiling':
      return { result: 'temporary-failure', code: ErrorCodes.COST_CEILING, reason: verdict.reason, scheme, countsAsGuess: true };
    // Not decided now; a guess only when another value was checked all the same.
    case 'overloaded':
      return { result: 'temporary-failure', code: ErrorCodes.VERIFY_OVERLOADED, reason: 'verification queue full', scheme, ...(verdict.evaluated ? { countsAsGuess: true } : {}) };
    case 'abandoned':
      return { result: 'temporary-failure', code: ErrorCodes.ABANDONED, reason: 'verification abandoned: nobody waits for the answer any more', scheme, ...(verdict.evaluated ? { countsAsGuess: true } : {}) };
  }
}

async function holdBack(delayMs: number, cancellation: Cancellation): Promise<void> {
  try {
    await sleep(delayMs, undefined, { signal: cancellation.signal });
  } catch {
    // The connection went away or its deadline passed: nobody is waiting any more.
  }
}
