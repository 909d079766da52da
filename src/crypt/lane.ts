/**
 * Where a crypt-string check runs. Two lanes, each with its own bounded queue:
 * "fast" (md5crypt, DES: well under a millisecond) and "slow" (bcrypt, argon2,
 * sha-crypt, phpass: milliseconds and more), so a burst of bcrypt never queues
 * in front of md5crypt logins. Past a queue's bound a check is "overloaded"
 * (a temporary failure), never an unbounded wait.
 */
import type { CryptTask } from './schemes/crypt-task.js';

export type Lane = 'fast' | 'slow';

/** true/false: the password does or does not match; or why there is no verdict. */
export type LaneOutcome = boolean | 'overloaded' | 'aborted';

export interface VerifyLane {
  /** Checks waiting for a thread. */
  readonly queueSize: number;
  /** `signal` says nobody waits any more: a queued check is dropped ('aborted'). */
  run(task: CryptTask, password: Buffer, signal?: AbortSignal): Promise<LaneOutcome>;
  close(): Promise<void>;
}
