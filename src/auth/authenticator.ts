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
import type { Backend, Candidate, LookupQuery, LookupResult } from '../backends/backend.js';
import type { RealmPolicy } from '../realm/login-key.js';
import type { VerifyOptions } from '../crypt/verifier.js';
import type { CheckedVerdict, PasswordCheck } from '../cache/caching-verifier.js';
import type { RecentSuccesses } from '../cache/credential-cache.js';
import { describeError, ErrorCodes } from '../errors.js';
import { authLogLevel, escapeField, logAuthEvent, type AuthEvent, type SuccessLevel } from './auth-log.js';
import type { LoginNames, Outcome } from './outcome.js';
import { readRequest } from './read-request.js';
import { clientAddressOf, type FailureThrottle, type NameKind, type Settled, type ThrottleAdmission, type ThrottleKey } from './throttle.js';
import type { GatePass } from './guess-gate.js';

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
  /** Told about every finished authentication (Prometheus metrics), when enabled. */
  readonly metrics?: { observe(event: AuthEvent): void };
  readonly clock?: Clock;
}

const SUCCESS_FROM_CREDENTIAL_CACHE: Outcome = Object.freeze({ result: 'success', cache: 'credential' });
const UNKNOWN_USER: Outcome = Object.freeze({ result: 'failure', code: ErrorCodes.UNKNOWN_USER, reason: 'unknown user' });
const NOBODY_WAITS: Outcome = Object.freeze({ result: 'temporary-failure', code: ErrorCodes.ABANDONED, reason: 'nobody waits for the answer any more' });
const THROTTLE_QUEUE_FULL: Outcome = Object.freeze({ result: 'temporary-failure', code: ErrorCodes.THROTTLE_BUSY, reason: 'too many guesses for this user or address already wait for their turn' });
const NO_ROOM_TO_WAIT: Outcome = Object.freeze({ result: 'temporary-failure', code: ErrorCodes.THROTTLE_BUSY, reason: 'no room left to hold answers for throttled users and addresses' });

/** The connection's say in waiting: true moves it out of the connection cap into the room for held answers; false when that room is full. */
export type Park = () => boolean;
const ALWAYS_ROOM: Park = () => true;

/** A login's turn at the throttle's gate: taken before its password is evaluated, given back with the outcome. */
interface Turn {
  readonly keys: readonly ThrottleKey[];
  readonly pass: GatePass;
}

/** What deciding a login produced, before the throttle and the report. */
interface Decided {
  readonly outcome: Outcome;
  /** Whether the name had a row: the throttle counts the two apart. */
  readonly name: NameKind;
  /** The row's own name, when a row (or a cache of one) said it. */
  readonly canonical?: string;
  readonly turn?: Turn;
}

/** The parts of one request every step needs. */
interface Asked {
  readonly query: LookupQuery;
  readonly address: string | undefined;
  readonly password: Buffer;
  readonly cancellation: Cancellation;
  readonly park: Park;
}

export class Authenticator {
  readonly #options: AuthenticatorOptions;
  readonly #clock: Clock;

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
    this.#clock = options.clock ?? performance;
  }

  /**
   * `park` is how the connection is told that the answer now waits on the
   * throttle rather than on work (a turn to wait for, a delay to sit out);
   * `named`, when given, learns the name the login was decided under.
   */
  async authenticate(request: AuthRequest, cancellation: Cancellation, park: Park = ALWAYS_ROOM, named?: (user: string) => void): Promise<Outcome> {
    const started = this.#clock.now();
    const read = readRequest(request, this.#options.realm, this.#options.backend.mechanism);
    const address = read.names.remote === undefined ? undefined : clientAddressOf(read.names.remote);
    const decided: Decided = read.ok ? await this.#decide({ query: read.query, address, password: request.password.reveal(), cancellation, park }) : { outcome: read.refusal, name: 'not-a-name' };
    const names = decided.canonical === undefined || decided.canonical === read.names.user ? read.names : { ...read.names, user: decided.canonical, requested: read.names.user };
    const durationMs = Math.round((this.#clock.now() - started) * 1000) / 1000;
    let outcome = decided.outcome;
    let delayMs = this.#consultThrottle(names, address, decided);
    // No room to hold the answer: it is not given early either (the delay is what bounds the guessing).
    if (delayMs > 0 && !park()) {
      outcome = NO_ROOM_TO_WAIT;
      delayMs = 0;
    }
    this.#report(names, outcome, durationMs, delayMs);
    if (delayMs > 0) await holdBack(delayMs, cancellation);
    // The name the login was decided under: the row's own when a row said it (the Dovecot protocol answers it).
    named?.(names.user);
    return outcome;
  }

  async #decide(asked: Asked): Promise<Decided> {
    const { credentialCache, outageCache, passwords } = this.#options;
    const { query, password } = asked;
    let turn: Turn | undefined;
    // saslauthd -c: a recent success skips the lookup, but its check still waits for the user's turn.
    const recalled = credentialCache?.recall(query.user, query.realm, query.service);
    if (recalled) {
      const pending = this.#takeTurn(asked, recalled.user, 'has-row');
      const taken = pending instanceof Promise ? await pending : pending;
      if ('refused' in taken) return taken.refused;
      turn = taken.turn;
      if (credentialCache!.confirms(recalled, password)) return { outcome: SUCCESS_FROM_CREDENTIAL_CACHE, name: 'has-row', canonical: recalled.user, ...(turn ? { turn } : {}) };
    }
    let found: LookupResult;
    const lookupStarted = this.#clock.now();
    try {
      found = await this.#options.backend.lookup(query, asked.cancellation);
    } catch (error) {
      // A backend that throws could not answer either.
      found = { status: 'unavailable', code: ErrorCodes.BACKEND_UNAVAILABLE, reason: describeError(error).message };
    }
    this.#traceLookup(query, found, this.#clock.now() - lookupStarted);
    if (found.status === 'unavailable') {
      const reason = found.code === ErrorCodes.BACKEND_UNAVAILABLE ? `backend unavailable: ${found.reason}` : found.reason;
      const unavailable: Outcome = { result: 'temporary-failure', code: found.code, reason };
      // Only when the database cannot be reached: a real "no" from it is never overridden, and neither a
      // database that is up with no free connection nor one that answers with an error is an outage.
      const remembered = found.code === ErrorCodes.BACKEND_UNAVAILABLE ? outageCache?.recall(query.user, query.realm, query.service) : undefined;
      if (!remembered) return { outcome: unavailable, name: 'no-row', ...(turn ? { turn } : {}) };
      const pending = this.#switchTurn(asked, turn, remembered.user, 'has-row');
      const taken = pending instanceof Promise ? await pending : pending;
      if ('refused' in taken) return taken.refused;
      const success = outageCache!.confirms(remembered, password);
      const outcome: Outcome = success ? { result: 'success', cache: 'outage', reason } : unavailable;
      return { outcome, name: 'has-row', canonical: remembered.user, ...(taken.turn ? { turn: taken.turn } : {}) };
    }
    if (found.status === 'misconfigured') {
      // The configuration's fault, not the user's: retry later, and the log says what to fix. No cache stands in for it.
      const outcome: Outcome = { result: 'temporary-failure', code: found.code, reason: found.reason };
      return { outcome, name: 'no-row', ...(turn ? { turn } : {}) };
    }
    const options: VerifyOptions = found.defaultScheme === undefined ? { cancellation: asked.cancellation } : { cancellation: asked.cancellation, defaultScheme: found.defaultScheme };
    if (found.status !== 'found') {
      // Spellings of one name that finds no row share its rejected-cache entry and throttle count.
      const key = normalizedName(query.user);
      const pending = this.#switchTurn(asked, turn, key, 'no-row');
      const taken = pending instanceof Promise ? await pending : pending;
      if ('refused' in taken) return taken.refused;
      const { cache } = await passwords.checkNoRow(key, password, options);
      const refusal = found.status === 'unknown' ? UNKNOWN_USER : ({ result: 'failure', code: found.code, reason: found.reason } as const);
      return { outcome: cache ? { ...refusal, cache } : refusal, name: 'no-row', ...(taken.turn ? { turn: taken.turn } : {}) };
    }
    // The row's own name: "ALICE" and "alice " that a collation matched to the row "alice" are one user to the caches.
    const user = found.user ?? query.user;
    const pending = this.#switchTurn(asked, turn, user, 'has-row');
    const taken = pending instanceof Promise ? await pending : pending;
    if ('refused' in taken) return taken.refused;
    const { candidates } = found;
    const verdict = await passwords.check(user, { candidates: candidates.map((candidate) => candidate.stored), defaultScheme: found.defaultScheme }, password, options);
    const { outcome, matched } = judge(verdict, candidates);
    if (outcome.result === 'success') {
      // Only here: never after a -c or outage-cache answer, which saw no row.
      if (matched?.role === 'password') this.#options.rehash?.consider({ user, stored: matched.stored, scheme: outcome.scheme ?? '', password });
      credentialCache?.remember(query.user, query.realm, query.service, password, user);
      outageCache?.remember(query.user, query.realm, query.service, password, user);
    }
    return { outcome, name: 'has-row', canonical: user, ...(taken.turn ? { turn: taken.turn } : {}) };
  }

  /** -d: one line for the lookup, the step the final auth line says least about. Built only when debugging. */
  #traceLookup(query: LookupQuery, found: LookupResult, ms: number): void {
    const { logger } = this.#options;
    if (!logger.isLevelEnabled('debug')) return;
    const row = found.status === 'found' ? `found${found.user !== undefined && found.user !== query.user ? ` as ${escapeField(found.user)}` : ''}` : found.status;
    const why = 'reason' in found ? `: ${found.reason}` : '';
    logger.debug({ lookupMs: Math.round(ms * 1000) / 1000 }, `lookup [user=${escapeField(query.user)}] [service=${escapeField(query.service)}]: ${row}${why}`);
  }

  /**
   * Wait for the throttle's turn to evaluate a password for this name (no
   * throttle: no turn). Synchronous when the turn is free, as it almost always is.
   */
  #takeTurn(asked: Asked, user: string, kind: NameKind): TurnTaken | Promise<TurnTaken> {
    const throttle = this.#options.throttle;
    if (!throttle) return NO_TURN;
    const keys = throttle.keysFor(user, asked.address, kind);
    const admitted = throttle.admit(keys, asked.cancellation, asked.park);
    return admitted instanceof Promise ? admitted.then((late) => turnOf(keys, late, kind)) : turnOf(keys, admitted, kind);
  }

  /** Keep the turn already taken when it is for the same keys, else give it back and take this name's. */
  #switchTurn(asked: Asked, turn: Turn | undefined, user: string, kind: NameKind): TurnTaken | Promise<TurnTaken> {
    if (turn) {
      const keys = this.#options.throttle!.keysFor(user, asked.address, kind);
      if (sameKeys(keys, turn.keys)) return { turn };
      turn.pass.release();
    }
    return this.#takeTurn(asked, user, kind);
  }

  /**
   * Count the outcome, give the turn back and say how long to hold the
   * answer. Temporary failures neither count nor wait: they are our trouble,
   * not the client's.
   */
  #consultThrottle(names: LoginNames, address: string | undefined, decided: Decided): number {
    const throttle = this.#options.throttle;
    const { outcome, turn } = decided;
    if (!throttle || outcome.result === 'temporary-failure') {
      turn?.pass.release();
      return 0;
    }
    const failed = outcome.result === 'failure';
    let settled: Settled;
    if (turn) {
      settled = throttle.settle(turn.pass, turn.keys, failed, !failed && address !== undefined && decided.name === 'has-row' ? { user: names.user, address } : undefined);
    } else {
      // Refused before its lookup: no password was evaluated, so there was no turn to take.
      const keys = throttle.keysFor(names.user, address, decided.name);
      settled = { decision: throttle.decide(keys, failed), crossed: throttle.record(keys, failed) };
    }
    // One line when a name or an address crosses the threshold, for fail2ban and for people.
    const log = this.#options.logger;
    const after = throttle.afterFailures;
    for (const key of settled.crossed) {
      if (key.table === 'address') log.warn({ event: 'throttle', by: 'address', remote: address, failures: after }, `throttling: [remote=${escapeField(address!)}] [failures=${after}]`);
      else if (decided.name !== 'not-a-name') log.warn({ event: 'throttle', by: 'user', user: names.user, ...(key.table === 'owner' ? { remote: address } : {}), failures: after }, `throttling: [user=${escapeField(names.user)}] [failures=${after}]`);
    }
    return settled.decision?.delayMs ?? 0;
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

type TurnTaken = { readonly turn: Turn | undefined } | { readonly refused: Decided };
const NO_TURN: TurnTaken = Object.freeze({ turn: undefined });

function turnOf(keys: readonly ThrottleKey[], admission: ThrottleAdmission, kind: NameKind): TurnTaken {
  // Another host may have known the address as the user's: the turn is then under the keys it was taken with.
  if (admission.admitted) return { turn: { keys: 'keys' in admission ? admission.keys : keys, pass: admission.pass } };
  return { refused: { outcome: admission.why === 'cancelled' ? NOBODY_WAITS : admission.why === 'queue-full' ? THROTTLE_QUEUE_FULL : NO_ROOM_TO_WAIT, name: kind } };
}

function sameKeys(a: readonly ThrottleKey[], b: readonly ThrottleKey[]): boolean {
  return a.length === b.length && a.every((key, i) => key.id === b[i]!.id);
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
    // The rest is the configuration's or the row's fault, never the user's: a temporary failure the log explains.
    case 'unsupported':
      return { result: 'temporary-failure', code: ErrorCodes.UNSUPPORTED_SCHEME, reason: verdict.reason, scheme };
    case 'malformed':
      return { result: 'temporary-failure', code: ErrorCodes.MALFORMED_STORED_VALUE, reason: verdict.reason, scheme };
    case 'over-ceiling':
      return { result: 'temporary-failure', code: ErrorCodes.COST_CEILING, reason: verdict.reason, scheme };
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
