/**
 * Dovecot's auth policy, for a Dovecot that checks passwords itself (its own
 * SQL passdb) but shares this daemon's guessing budget. Dovecot asks
 * `allow` before it evaluates a password and says `report` after; between
 * the two, the login holds a throttle Turn exactly as a login on the
 * daemon's own sockets does between its claim and its settle:
 *
 *   allow    look the name up (the row's own name is the key SMTP counts
 *            under; a name with no row counts where made-up names do), then
 *            claim the turn: the answer waits for it, which is the tarpit;
 *            a turn that cannot be had is status -1
 *   report   settle the turn with Dovecot's outcome: a failure counts for the
 *            name and the address, a success starts the name over and makes
 *            the address an owner address, on this host and, with a store,
 *            on every host
 *
 * Dovecot sends the same attributes in both (the report adds `success` and
 * `policy_reject`), so they pair a report with its allow. After a success
 * Dovecot asks `allow` once more (auth_policy_check_after_auth): the login
 * holds its turn already, and is allowed. A report never paired (its allow
 * was long ago, or never seen) counts nothing: without its turn it would be
 * a guess evaluated outside the gate's bound, and counting it anyway could
 * not make up for that.
 *
 * Repeats. Dovecot's `pwhash` is a truncated hash of the user name and the
 * password: a failure with a pwhash that name already failed with, against
 * the same stored values, is the phone retrying an old password and counts
 * once (as the rejected cache's answers do on the sockets). Only the last
 * few are remembered per name, so a guesser cannot make every guess look
 * like a repeat of one the truncated hash collides with.
 *
 * What Dovecot 2.3 reports as a failure includes its own internal failures;
 * a login whose lookup here could not reach the database is settled as a
 * temporary failure, which counts nothing, and so is one Dovecot 2.4 says
 * failed inside (fail_type internal).
 */
import { createHash } from 'node:crypto';
import type { LRUCache } from 'lru-cache';
import { growingLru } from '../common/growing-lru.js';
import type { Logger } from 'pino';
import type { Backend, LookupResult } from '../backends/backend.js';
import type { Cancellation } from '../common/cancellation.js';
import type { Hold } from '../protocol/answering.js';
import type { PolicyAnswer, PolicyQuestion, PolicyReport } from '../protocol/policy-request.js';
import { MAX_FIELD_LENGTH } from '../protocol/limits.js';
import { normalizedName, type RealmPolicy } from '../realm/login-key.js';
import { describeError, ErrorCodes } from '../errors.js';
import { authEvent, logAuthEvent, type AuthEvent, type SuccessLevel } from './auth-log.js';
import type { LoginNames, Outcome } from './outcome.js';
import { readRequest } from './read-request.js';
import type { CompromiseWatch } from './compromise-watch.js';
import { MAX_TRACKED_KEYS, type FailureThrottle, type NameKind, type Turn } from './throttle.js';

/** What the guard reads from the generation serving now (a reload swaps it). */
export interface PolicyContext {
  readonly throttle: FailureThrottle | undefined;
  /** Told about each success Dovecot reports, with its address. */
  readonly compromise?: Pick<CompromiseWatch, 'success'>;
  readonly backend: Pick<Backend, 'lookup' | 'mechanism'>;
  readonly realm: RealmPolicy;
  readonly successLevel: SuccessLevel;
}

export interface PolicyGuardOptions {
  readonly context: () => PolicyContext;
  /** How long a turn given at `allow` waits for its report before it is given back uncounted. */
  readonly reportTimeoutMs: number;
  /** How long a failed pwhash is remembered: the throttle's window. */
  readonly repeatWindowMs: number;
  readonly logger: Logger;
  readonly metrics?: { observe(event: AuthEvent): void };
}

export const ALLOW: PolicyAnswer = Object.freeze({ status: 0 });
/** The reason Dovecot gives the client: it says nothing about the account. */
const TRY_LATER: PolicyAnswer = Object.freeze({ status: -1, msg: 'Too many attempts, try again later.' });
/** Logins between their allow and their report, at most: Dovecot's own auth processes bound how many are under way. */
export const MAX_PENDING_TURNS = 10_000;
/** Failed pwhashes remembered per name: enough for a phone or two with an old password, too few for a guesser's collisions to matter. */
export const REMEMBERED_FAILURES_PER_NAME = 4;
const NO_NAME = Buffer.alloc(0);

/** A login between its allow and its report. */
interface PendingTurn {
  readonly turn: Turn;
  readonly names: LoginNames;
  readonly kind: NameKind;
  /** The key the throttle counts under: the row's own name, or the normalised name with no row. */
  readonly user: string;
  /** The stored values the lookup found, by digest: a repeat counts once only against the same ones. */
  readonly values: string;
  /** The lookup could not reach the database: Dovecot's failure is then no proof of a wrong password. */
  readonly unavailable: boolean;
  readonly startedAt: number;
  /** How long the allow waited for the turn (the tarpit), in whole milliseconds. */
  readonly waitedMs: number;
  readonly expiry: NodeJS.Timeout;
}

/** What the lookup said about the name. */
interface Subject {
  readonly kind: NameKind;
  readonly user: string;
  readonly values: string;
  readonly unavailable: boolean;
}

export class PolicyGuard {
  readonly #options: PolicyGuardOptions;
  readonly #pending = new Map<string, PendingTurn[]>();
  #pendingCount = 0;
  /** A name's recent failed pwhashes, against the stored values they failed with. */
  readonly #failures: LRUCache<string, { readonly values: string; readonly hashes: string[] }>;

  constructor(options: PolicyGuardOptions) {
    this.#options = options;
    this.#failures = growingLru(MAX_TRACKED_KEYS, { ttl: options.repeatWindowMs });
  }

  /** Logins between their allow and their report. */
  get pendingCount(): number {
    return this.#pendingCount;
  }

  /** Dovecot asks before evaluating a password: the answer comes once the login has its turn. */
  async allow(question: PolicyQuestion, cancellation: Cancellation, hold: Hold): Promise<PolicyAnswer> {
    const context = this.#options.context();
    if (!context.throttle) return ALLOW;
    // Asked again after a success, for a login that holds its turn: nothing to wait for.
    if (this.#pending.has(question.pairing)) return ALLOW;
    if (this.#pendingCount >= MAX_PENDING_TURNS) {
      this.#options.logger.warn({ code: ErrorCodes.THROTTLE_BUSY, pending: this.#pendingCount }, 'too many Dovecot logins wait for their report; refusing more until some finish');
      return TRY_LATER;
    }
    const startedAt = performance.now();
    const read = readRequest({ listener: 'policy', login: question.login ?? NO_NAME, service: question.service, realm: NO_NAME, ...(question.client ? { client: question.client } : {}) }, context.realm, context.backend.mechanism);
    const turn = context.throttle.turn(question.client?.address, cancellation, hold);
    let subject: Subject;
    if (!read.ok || question.login === undefined || question.login.length > MAX_FIELD_LENGTH) {
      // No name, or none a mailbox can have: no lookup, and the one count such names share (with the address's).
      subject = { kind: 'not-a-name', user: read.names.user, values: '', unavailable: false };
    } else {
      subject = subjectOf(read.query.user, await this.#lookUp(context, read.query, cancellation));
    }
    const claimedAt = performance.now();
    const refused = await turn.claim(subject.user, subject.kind);
    const waitedMs = Math.round(performance.now() - claimedAt);
    const names = subject.kind === 'has-row' && subject.user !== read.names.user ? Object.assign({}, read.names, { user: subject.user, requested: read.names.user }) : read.names;
    if (refused) {
      turn.settle(refused, names.user);
      this.#report(names, refused, startedAt, 0, waitedMs, context.successLevel);
      return TRY_LATER;
    }
    const expiry = setTimeout(() => this.#expire(question.pairing, pending), this.#options.reportTimeoutMs);
    expiry.unref();
    const pending: PendingTurn = { turn, names, ...subject, startedAt, waitedMs, expiry };
    this.#add(question.pairing, pending);
    return ALLOW;
  }

  /** Dovecot says how the login it asked about ended. */
  report(question: PolicyQuestion, { success, policyRefused, failType }: PolicyReport): void {
    const pending = this.#take(question.pairing);
    if (!pending) {
      // A login this guard refused has nothing to settle; any other had its turn given back already.
      if (!policyRefused) this.#options.logger.debug({ listener: 'policy' }, 'a Dovecot report with no allow waiting for it: not counted');
      return;
    }
    clearTimeout(pending.expiry);
    const context = this.#options.context();
    // Dovecot 2.4 says when a failure was its own (its passdb could not answer): that is no guess.
    const outcome = success ? SUCCESS : failType === 'internal' ? DOVECOT_INTERNAL : this.#failureOf(pending, question.pwhash);
    const delayMs = pending.turn.settle(outcome, pending.names.user);
    if (success && pending.kind === 'has-row' && question.client) context.compromise?.success(pending.user, question.client.address, pending.names.service);
    if (outcome.result === 'failure' && question.pwhash !== undefined) this.#rememberFailure(pending, question.pwhash);
    this.#report(pending.names, outcome, pending.startedAt, delayMs, pending.waitedMs, context.successLevel);
  }

  /** Give back every turn still waiting for its report (at shutdown). */
  close(): void {
    for (const [pairing, turns] of [...this.#pending]) for (const pending of turns) this.#expire(pairing, pending);
  }

  async #lookUp(context: PolicyContext, query: Parameters<Backend['lookup']>[0], cancellation: Cancellation): Promise<LookupResult> {
    try {
      return await context.backend.lookup(query, cancellation);
    } catch (error) {
      return { status: 'unavailable', code: ErrorCodes.BACKEND_UNAVAILABLE, reason: describeError(error).message };
    }
  }

  #failureOf(pending: PendingTurn, pwhash: string | undefined): Outcome {
    if (pending.unavailable) return UNDECIDED;
    const failure = pending.kind === 'has-row' ? WRONG_PASSWORD : UNKNOWN_USER;
    const remembered = pwhash === undefined ? undefined : this.#failures.get(pending.user);
    const repeat = remembered !== undefined && remembered.values === pending.values && remembered.hashes.includes(pwhash!);
    return repeat ? Object.assign({}, failure, { cache: 'rejected' as const }) : failure;
  }

  #rememberFailure(pending: PendingTurn, pwhash: string): void {
    const remembered = this.#failures.get(pending.user);
    const hashes = remembered?.values === pending.values ? remembered.hashes.filter((hash) => hash !== pwhash) : [];
    hashes.push(pwhash);
    if (hashes.length > REMEMBERED_FAILURES_PER_NAME) hashes.shift();
    this.#failures.set(pending.user, { values: pending.values, hashes });
  }

  #add(pairing: string, pending: PendingTurn): void {
    const turns = this.#pending.get(pairing);
    if (turns) turns.push(pending);
    else this.#pending.set(pairing, [pending]);
    this.#pendingCount += 1;
  }

  /** The oldest login waiting under these attributes. */
  #take(pairing: string): PendingTurn | undefined {
    const turns = this.#pending.get(pairing);
    const pending = turns?.shift();
    if (!pending) return undefined;
    if (turns!.length === 0) this.#pending.delete(pairing);
    this.#pendingCount -= 1;
    return pending;
  }

  /** No report came in time (or the daemon stops): the turn is given back, counting nothing. */
  #expire(pairing: string, pending: PendingTurn): void {
    const turns = this.#pending.get(pairing);
    const index = turns?.indexOf(pending) ?? -1;
    if (index < 0) return;
    turns!.splice(index, 1);
    if (turns!.length === 0) this.#pending.delete(pairing);
    this.#pendingCount -= 1;
    clearTimeout(pending.expiry);
    pending.turn.settle(NO_REPORT, pending.names.user);
  }

  /** One line per login, as the sockets' logins have: durationMs is from its allow to its report. */
  #report(names: LoginNames, outcome: Outcome, startedAt: number, delayMs: number, waitedMs: number, successLevel: SuccessLevel): void {
    const durationMs = Math.round((performance.now() - startedAt) * 1000) / 1000;
    const event = authEvent(names, outcome, durationMs, delayMs, waitedMs);
    logAuthEvent(this.#options.logger, event, successLevel);
    this.#options.metrics?.observe(event);
  }
}

const SUCCESS: Outcome = Object.freeze({ result: 'success' });
const WRONG_PASSWORD: Outcome = Object.freeze({ result: 'failure', code: ErrorCodes.WRONG_PASSWORD, reason: 'Dovecot reported a failed login' });
const UNKNOWN_USER: Outcome = Object.freeze({ result: 'failure', code: ErrorCodes.UNKNOWN_USER, reason: 'unknown user' });
const UNDECIDED: Outcome = Object.freeze({ result: 'temporary-failure', code: ErrorCodes.BACKEND_UNAVAILABLE, reason: 'Dovecot reported a failure while the database could not be reached here: not counted' });
const DOVECOT_INTERNAL: Outcome = Object.freeze({ result: 'temporary-failure', code: ErrorCodes.BACKEND_UNAVAILABLE, reason: 'Dovecot reported an internal failure (fail_type internal): not counted' });
const NO_REPORT: Outcome = Object.freeze({ result: 'temporary-failure', code: ErrorCodes.ABANDONED, reason: 'no report from Dovecot' });

/** The name the login counts under, by what its lookup found. */
function subjectOf(user: string, found: LookupResult): Subject {
  switch (found.status) {
    case 'found':
      return { kind: 'has-row', user: found.user ?? user, values: digestOf(found.candidates.map((candidate) => candidate.stored)), unavailable: false };
    case 'unknown':
    case 'refused':
      return { kind: 'no-row', user: normalizedName(user), values: '', unavailable: false };
    case 'unavailable':
    case 'misconfigured':
      // Counted where names with no row are, so that names made up during an outage push no real user's count out.
      return { kind: 'no-row', user: normalizedName(user), values: '', unavailable: true };
  }
}

function digestOf(values: readonly string[]): string {
  const hash = createHash('sha256');
  for (const value of values) hash.update(value).update('\u0000');
  return hash.digest('base64url');
}
