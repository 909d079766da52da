/**
 * Re-hashing on login (rehash_to): after a success with the account's own
 * password, if its stored value is weaker than the target (scheme or cost),
 * write the same password in the target scheme. Only the login path ever
 * sees the plaintext, so this is the one moment it can be done without a
 * password reset.
 *
 * It never touches the answer: it starts after the verdict, never waits,
 * never throws into the login. A write that fails is logged and tried again
 * at the user's next login, no sooner; a row that changed since it was read
 * is left alone (the UPDATE matches the old value). The authenticator calls
 * it only for the account's own password matched by a real check or the
 * verified cache: never for app passwords, never after a failure, never from
 * the -c or outage caches.
 */
import type { Logger } from 'pino';
import type { StoredValueRewriter } from '../backends/backend.js';
import { docPath } from '../common/doc-path.js';
import { inStoredForm, isWeaker, type RehashScheme, type RehashTarget } from '../crypt/rehash-target.js';
import type { GenerateOptions } from '../crypt/schemes/crypt-strings.js';
import type { RehashOnLogin, SuccessfulPassword } from './authenticator.js';
import { escapeField } from './auth-log.js';

/** What became of one re-hash, as the metrics count it. */
export type RehashResult = 'written' | 'row-changed' | 'failed' | 'deferred';

export interface RehashOptions {
  readonly rewriter: StoredValueRewriter;
  /** Computes the new value off the event loop; undefined when no thread is free now. */
  readonly generate: (scheme: RehashScheme, password: Buffer, options: GenerateOptions) => Promise<string | undefined>;
  readonly logger: Logger;
  readonly observe?: (from: string, to: string, result: RehashResult) => void;
}

/** Re-hashes under way at once, at most; a login beyond that is re-hashed at a later login. */
export const MAX_REHASHES_IN_FLIGHT = 16;
/** A failure that repeats (a writer without rights fails for every login) is a warning this often, at most. */
const WARN_EVERY_MS = 60_000;

export class Rehasher implements RehashOnLogin {
  readonly #options: RehashOptions;
  readonly #target: RehashTarget;
  /** Users being re-hashed now: one write per user at a time. */
  readonly #inFlight = new Set<string>();
  readonly #lastWarned = new Map<string, number>();
  readonly #done = new Set<Promise<void>>();

  constructor(options: RehashOptions) {
    this.#options = options;
    this.#target = { scheme: options.rewriter.to as RehashScheme, cost: options.rewriter.cost };
  }

  consider(success: SuccessfulPassword): void {
    if (!isWeaker(success.stored, success.scheme, this.#target, success.password.length)) return;
    const from = success.scheme;
    if (this.#inFlight.has(success.user) || this.#inFlight.size >= MAX_REHASHES_IN_FLIGHT) {
      this.#options.observe?.(from, this.#target.scheme, 'deferred');
      return;
    }
    this.#inFlight.add(success.user);
    // The request's bytes are wiped once it is answered: this copy is ours, and wiped when done.
    const password = Buffer.from(success.password);
    const work = this.#rehash(success.user, success.stored, from, password).finally(() => {
      password.fill(0);
      this.#inFlight.delete(success.user);
      this.#done.delete(work);
    });
    this.#done.add(work);
  }

  async #rehash(user: string, old: string, from: string, password: Buffer): Promise<void> {
    const { rewriter, generate, logger, observe } = this.#options;
    const to = this.#target.scheme;
    const cost = this.#target.cost;
    const options: GenerateOptions = cost === undefined ? {} : to === 'BLF-CRYPT' ? { cost } : { rounds: cost };
    let result: RehashResult;
    try {
      const bare = await generate(to, password, options);
      if (bare === undefined) {
        // Every hashing thread is busy with logins: they come first.
        result = 'deferred';
      } else {
        result = await rewriter.replace(user, inStoredForm(old, bare, this.#target), old);
        if (result === 'written') logger.info({ event: 'rehash', user, from, to }, `re-hashed [user=${escapeField(user)}] [from=${from}] [to=${to}]`);
        else logger.info({ event: 'rehash', user, from, to }, `not re-hashed [user=${escapeField(user)}]: the row changed since the login read it (a new password wins)`);
      }
    } catch (error) {
      result = 'failed';
      this.#warnFailure(user, error);
    }
    observe?.(from, to, result);
  }

  #warnFailure(user: string, error: unknown): void {
    const { logger } = this.#options;
    const code = (error as { readonly code?: unknown }).code;
    const key = typeof code === 'string' ? code : 'error';
    const message = `re-hash not written [user=${escapeField(user)}]: ${(error as Error).message}; the login succeeded, and the next login tries again${/DENIED/.test(key) ? ` (the rehash_user account needs SELECT on the user and password columns, which the UPDATE's WHERE reads, and UPDATE on the password column: GRANT SELECT (username, password), UPDATE (password) ON mailbox; ${docPath('postfixadmin.md')})` : ''}`;
    const now = Date.now();
    const last = this.#lastWarned.get(key);
    if (last !== undefined && now - last < WARN_EVERY_MS) {
      logger.debug({ event: 'rehash', code: key }, message);
      return;
    }
    this.#lastWarned.set(key, now);
    logger.warn({ event: 'rehash', code: key }, message);
  }

  /** Let the re-hashes under way finish (each ends by the query deadline): the backend closes after. */
  async settle(): Promise<void> {
    await Promise.all([...this.#done]);
  }
}
