/**
 * What was decided for one login, before it is counted, logged and answered.
 * Every protocol answers from this alone (mux-reply.ts for saslauthd's socket),
 * so the safety rule lives in one place: only `success` is ever an OK.
 */
import type { ErrorCode } from '../errors.js';
import type { ListenerName } from '../protocol/request.js';

/**
 *   success            the password matched
 *   failure            a definite no: wrong password, unknown user, refused name
 *   temporary-failure  we could not decide (backend down, overloaded): retry later
 */
export type AuthResult = 'success' | 'failure' | 'temporary-failure';

/** Which cache answered, when one did. */
export type AnsweredFrom = 'verified' | 'rejected' | 'credential' | 'outage';

export interface Outcome {
  readonly result: AuthResult;
  readonly code?: ErrorCode;
  /** For the log only: never sent to the client, which must not learn why. */
  readonly reason?: string;
  readonly scheme?: string;
  readonly cache?: AnsweredFrom;
  /**
   * A temporary failure the throttle counts as a guess all the same: a value
   * was checked (another could not be, now), or the row's only values are ones
   * no guess can be checked against. Otherwise such a guess would be free.
   */
  readonly countsAsGuess?: true;
}

/** The names one login is logged under: the lookup key once it is known, the bytes as received before. */
export interface LoginNames {
  /** The row's own name when the lookup found one, else the looked-up name. */
  readonly user: string;
  /** The name as the client spelled it (after -r), when the row's own name differs from it. */
  readonly requested?: string;
  readonly service: string;
  readonly realm: string;
  readonly mech: string;
  /** The client's address, when the client sends one and is believed. */
  readonly remote?: string;
  /** An address a peer that is not believed gave for its client (protocol/request.ts): logged, never used. */
  readonly claimedRemote?: string;
  /** Whether the client's connection to the MTA was encrypted, when the MTA says (the Dovecot protocol). */
  readonly secured?: boolean;
  /** The listener, when not the mux socket. */
  readonly listener?: Exclude<ListenerName, 'mux'>;
}
