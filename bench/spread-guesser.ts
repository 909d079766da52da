/**
 * A password guesser against one user, spreading its guesses over several
 * daemons (one per mail host behind a balancer) for a fixed time: how many
 * guesses were evaluated (answered NO) is what the throttle bounds. Used by
 * the shared-throttle suite and the multi-host run, which compare it with the
 * same guesser against one daemon.
 */
import { askDaemon } from '../src/protocol/client.js';
import { encodeRequest } from '../src/protocol/codec.js';

export interface GuesserOptions {
  /** The daemons' sockets; guess i goes to socket i mod n. */
  readonly sockets: readonly string[];
  readonly login: string;
  readonly realm: string;
  readonly service?: string;
  /** saslauthd's fifth field ("address;port"), or none. */
  readonly clientAddress?: string;
  /** Guesses in flight at once. */
  readonly concurrency: number;
  readonly durationMs: number;
  /** Give up on one guess after this long. */
  readonly timeoutMs?: number;
}

export interface GuesserResult {
  /** Guesses answered NO: evaluated and refused. What the throttle bounds. */
  readonly evaluated: number;
  /** OK for a wrong guess: must be 0. */
  readonly ok: number;
  /** Closed without an answer (the throttle's queue full, the deadline): not evaluated. */
  readonly noAnswer: number;
  readonly perSocket: readonly number[];
}

export async function runGuesser(options: GuesserOptions): Promise<GuesserResult> {
  const deadline = performance.now() + options.durationMs;
  const perSocket = options.sockets.map(() => 0);
  let next = 0;
  let ok = 0;
  let noAnswer = 0;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (performance.now() < deadline) {
        const index = next % options.sockets.length;
        const guess = `wrong-guess-${next}`;
        next += 1;
        const frame = encodeRequest({ login: options.login, password: guess, service: options.service ?? 'smtp', realm: options.realm, ...(options.clientAddress !== undefined ? { clientAddress: options.clientAddress } : {}) });
        const outcome = await askDaemon(options.sockets[index]!, frame, options.timeoutMs ?? 15_000);
        const text = outcome.kind === 'reply' ? outcome.text.toString() : '';
        if (text.startsWith('NO')) perSocket[index]! += 1;
        else if (text.startsWith('OK')) ok += 1;
        else {
          noAnswer += 1;
          // A refused guess is answered at once: do not spin on it.
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    }),
  );
  return { evaluated: perSocket.reduce((sum, n) => sum + n, 0), ok, noAnswer, perSocket };
}
