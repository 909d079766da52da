/**
 * The shared throttle's writes of one turn of the event loop, sent to Redis
 * as one script call: every login's count, every settle and every owner
 * marker that turn brought.
 *
 * A login that nobody throttles costs the store two operations, its count
 * (awaited, beside its lookup) and its settle (after its answer). Sent one
 * command each, they cost more than the login itself on a busy host: a
 * command object and a reply to parse in the daemon, a script call in Redis,
 * and a system call on both sides for each write and read. Gathered per turn,
 * a busy daemon pays those once for many logins. As the lookups do
 * (backends/mysql/lookup-batch.ts), a batch waits while operations keep
 * arriving turn after turn of the event loop, and goes after a turn that
 * brought none, at MAX_BATCH operations, or GATHER_MS after the first: an
 * idle daemon waits a quiet turn (microseconds), and a login's count, sent
 * beside its lookup, gathers while the lookup does. A batch that nobody waits
 * on waits for company until a timer of GATHER_MS (to the millisecond) ends
 * it: owner markers, and the settles that only move counts (most of them:
 * a success starting its name over, a failure kept), which come a few per
 * turn on a busy host and, sent turn by turn, made most of the script calls.
 * A settle that closes a key for the delay earned, or gives back a turn,
 * goes as a count does: other hosts wait on it, and a hold that arrived late
 * would let a guess through elsewhere.
 *
 * ARGV[1] is the window every operation of the batch counts in (a batch
 * whose operations would differ goes before the first that does). Then each
 * operation is one short code entry, read by position (string.sub: nothing
 * is split), followed only by the entries it needs; its keys are taken in
 * order from KEYS. A login nobody throttles sends four strings in all (a
 * count and a settle of one key each: two codes, two keys): each costs the
 * daemon a piece of the command's text and Redis a string to parse.
 *   cPN                    count (P probe 0 or 1, N keys): with probe 1,
 *                          KEYS are the owner marker, the owner key's count,
 *                          then the N count keys; the owner's count alone
 *                          moves when the marker is there. Replies {1, count}
 *                          or {0, N counts}.
 *   s(HT)xN [TOKEN] [MS]xH settle N keys: KEYS are N counts, then the turn of
 *                          each step that touches its turn, in order. HOW k
 *                          keep (a failure stays counted), b back (the attempt
 *                          taken back), c clear (the name starts over); TURN
 *                          0 touches none, o gives back the turn this login
 *                          holds (its value is TOKEN), h closes the key to
 *                          every host for the delay earned (the next MS
 *                          entry). TOKEN follows when a step touches a turn:
 *                          most settles touch none.
 *   oMS                    an owner marker (KEYS: 1), for MS.
 * Every write that creates or changes a count sets its expiry in the same
 * script, so no count is ever left without one, whatever happens to the
 * connection; a batch runs whole or not at all.
 */

/** Operations in one script call at most: a bounded command, whatever a turn brings. */
export const MAX_BATCH = 256;
/** While operations keep arriving, the first waits at most this long for more. */
export const GATHER_MS = 1;

export const BATCH_SCRIPT = `
local replies = {}
local window = ARGV[1]
local k, a = 1, 2
while a <= #ARGV do
  local op = ARGV[a]
  local kind = string.sub(op, 1, 1)
  a = a + 1
  if kind == 'c' then
    local n = tonumber(string.sub(op, 3))
    if string.sub(op, 2, 2) == '1' and redis.call('EXISTS', KEYS[k]) == 1 then
      replies[#replies + 1] = 1
      replies[#replies + 1] = redis.call('INCR', KEYS[k + 1])
      redis.call('PEXPIRE', KEYS[k + 1], window)
      k = k + 2 + n
    else
      if string.sub(op, 2, 2) == '1' then k = k + 2 end
      replies[#replies + 1] = 0
      for i = k, k + n - 1 do
        replies[#replies + 1] = redis.call('INCR', KEYS[i])
        redis.call('PEXPIRE', KEYS[i], window)
      end
      k = k + n
    end
  elseif kind == 's' then
    local n = (#op - 1) / 2
    local token
    if string.find(op, '[oh]', 2) then
      token = ARGV[a]
      a = a + 1
    end
    local t = k + n
    for i = 1, n do
      local how, turnStep = string.sub(op, 2 * i, 2 * i), string.sub(op, 2 * i + 1, 2 * i + 1)
      local count = KEYS[k + i - 1]
      if how == 'b' then
        if redis.call('DECR', count) <= 0 then redis.call('DEL', count) else redis.call('PEXPIRE', count, window) end
      elseif how == 'c' then
        redis.call('DEL', count)
      end
      if turnStep == 'h' then
        redis.call('SET', KEYS[t], token, 'PX', ARGV[a])
        a = a + 1
        t = t + 1
      elseif turnStep == 'o' then
        if redis.call('GET', KEYS[t]) == token then redis.call('DEL', KEYS[t]) end
        t = t + 1
      end
    end
    k = t
  elseif kind == 'o' then
    redis.call('SET', KEYS[k], '1', 'PX', string.sub(op, 2))
    k = k + 1
  else
    return redis.error_reply('unknown throttle batch operation')
  end
end
return replies`;

/** How a settle treats one key: its count, the hold it earned, whether this login holds its turn. */
export interface SettleStep {
  readonly how: 'keep' | 'back' | 'clear';
  readonly holdMs: number;
  readonly owned: boolean;
}

/** A step that writes its key's turn: closes it for a hold, or gives back the turn this login holds. */
export function touchesTurn(step: SettleStep): boolean {
  return step.holdMs > 0 || step.owned;
}

/** What a count found: whether the owner key alone was counted, and each counted key's count after this attempt. */
export interface CountReply {
  readonly ownerKnown: boolean;
  readonly counts: readonly number[];
}

interface Answer {
  readonly keys: number;
  /** performance.now() when the count was asked for: its deadline runs from there. */
  readonly since: number;
  settled: boolean;
  resolve(reply: CountReply): void;
  reject(error: Error): void;
}

/** The script call, as the store defines it on its connection. */
export type RunBatch = (keys: readonly string[], argv: readonly string[]) => Promise<number[]>;

/** The code of a count of one or two keys, with or without a probe (every login's): made once. */
const COUNT_CODES = [1, 2].flatMap((keys) => [`c0${keys}`, `c1${keys}`]);

function countCode(probe: boolean, keys: number): string {
  return (keys === 1 || keys === 2 ? COUNT_CODES[(keys - 1) * 2 + (probe ? 1 : 0)] : undefined) ?? `c${probe ? 1 : 0}${keys}`;
}

/** A settle step's HOW letter. */
const HOW_CODE: Readonly<Record<SettleStep['how'], string>> = { keep: 'k', back: 'b', clear: 'c' };

export class ThrottleBatch {
  readonly #run: RunBatch;
  readonly #failed: (error: Error) => void;
  readonly #deadlineMs: number;
  /** The batch being gathered: how many operations, the counts' answers, and their keys and ARGV entries in order, ready to send. */
  #operations = 0;
  /** The window the batch being gathered counts in (its ARGV[1]), once an operation that counts came. */
  #windowMs: number | undefined;
  #answers: Answer[] = [];
  #keys: string[] = [];
  #argv: string[] = [];
  /** performance.now() when the first operation of the batch being gathered came. */
  #since = 0;
  /** Operations came since the last look at the batch. */
  #arrived = false;
  /** A look at the batch is due at the end of a turn. */
  #looking = false;
  /** Operations in the batch being gathered that someone waits on (counts, settles touching a turn): without any, it waits for its timer instead of a quiet turn. */
  #urgent = 0;
  /** Sends a batch nobody waits on, GATHER_MS after its first operation. */
  #timer: NodeJS.Timeout | undefined;

  /**
   * `failed` hears of a batch that did not run or did not answer in time
   * (once per batch), whoever waited on it. A count waits `deadlineMs` at
   * most from when it was asked for, gathering included; one timer per batch
   * keeps that, and a reply already in the socket when it fires is still
   * taken (timers run before sockets are read, so the timer gives the reply
   * one more turn of the event loop).
   */
  constructor(run: RunBatch, failed: (error: Error) => void, deadlineMs: number) {
    this.#run = run;
    this.#failed = failed;
    this.#deadlineMs = deadlineMs;
  }

  /** Count an attempt under `counts` (or, when the `probe` marker is there, under its owner count alone). */
  count(counts: readonly string[], windowMs: number, probe?: { readonly marker: string; readonly ownerCount: string }): Promise<CountReply> {
    return new Promise((resolve, reject) => {
      this.#begin(true, windowMs);
      this.#argv.push(countCode(probe !== undefined, counts.length));
      if (probe) this.#keys.push(probe.marker, probe.ownerCount);
      for (const key of counts) this.#keys.push(key);
      this.#answers.push({ keys: counts.length, since: performance.now(), settled: false, resolve, reject });
      this.#added();
    });
  }

  /** `turns[i]` is the turn of `counts[i]`; only those of the steps that touch their turn are read (and sent). */
  settle(counts: readonly string[], turns: readonly string[], windowMs: number, token: string, steps: readonly SettleStep[]): void {
    let code = 's';
    let urgent = false;
    for (const step of steps) {
      if (touchesTurn(step)) urgent = true;
      code += HOW_CODE[step.how] + (step.holdMs > 0 ? 'h' : step.owned ? 'o' : '0');
    }
    this.#begin(urgent, windowMs);
    this.#argv.push(code);
    if (urgent) this.#argv.push(token);
    for (const key of counts) this.#keys.push(key);
    for (let i = 0; i < steps.length; i += 1) {
      const step = steps[i]!;
      if (step.holdMs > 0) this.#argv.push(String(Math.ceil(step.holdMs)));
      if (touchesTurn(step)) this.#keys.push(turns[i]!);
    }
    this.#added();
  }

  /** Tell every host, for `ms`, that the address of this marker logged in as its user. */
  mark(marker: string, ms: number): void {
    this.#begin(false);
    this.#argv.push(`o${Math.max(1, Math.ceil(ms))}`);
    this.#keys.push(marker);
    this.#added();
  }

  /**
   * An operation is about to be added: `urgent` when someone waits on it;
   * `windowMs` when it counts. A batch counts in one window: one gathered in
   * another (before a reload changed it) goes first.
   */
  #begin(urgent: boolean, windowMs?: number): void {
    if (windowMs !== undefined) {
      if (this.#windowMs !== undefined && this.#windowMs !== windowMs) this.#send();
      this.#windowMs = windowMs;
    }
    if (this.#operations === 0) {
      // ARGV[1], the window, is written when the batch goes.
      this.#argv.push('');
      this.#since = performance.now();
      this.#timer = setTimeout(() => this.#onTimer(), GATHER_MS);
    }
    if (urgent) this.#urgent += 1;
    if (!this.#looking && this.#urgent > 0) {
      this.#looking = true;
      setImmediate(() => this.#atTurnEnd());
    }
  }

  #added(): void {
    this.#operations += 1;
    this.#arrived = true;
    // A full batch goes at once; the turn-end check finds the next one (if any) begun.
    if (this.#operations >= MAX_BATCH) this.#send();
  }

  #atTurnEnd(): void {
    const arriving = this.#arrived;
    this.#arrived = false;
    if (this.#urgent > 0 && arriving && performance.now() - this.#since < GATHER_MS) {
      setImmediate(() => this.#atTurnEnd());
      return;
    }
    this.#looking = false;
    // A batch nobody waits on (a full one went meanwhile, and such settles began the next) waits for its timer.
    if (this.#urgent > 0) this.#send();
  }

  #onTimer(): void {
    this.#timer = undefined;
    if (this.#operations > 0) this.#send();
  }

  /** Send what is gathered now (the store is closing): a settle left behind would leave its count up for the window. */
  flush(): void {
    if (this.#operations > 0) this.#send();
  }

  #send(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#urgent = 0;
    const answers = this.#answers;
    const keys = this.#keys;
    const argv = this.#argv;
    argv[0] = String(this.#windowMs ?? 0);
    this.#windowMs = undefined;
    this.#operations = 0;
    this.#answers = [];
    this.#keys = [];
    this.#argv = [];
    this.#call(answers, keys, argv);
  }

  #call(answers: readonly Answer[], keys: readonly string[], argv: readonly string[]): void {
    let done = false;
    const fail = (failure: Error): void => {
      if (done) return;
      done = true;
      this.#failed(failure);
      for (const answer of answers) settle(answer, () => answer.reject(failure));
    };
    const oldest = answers.length > 0 ? answers[0]!.since : undefined;
    const timer =
      oldest === undefined
        ? undefined
        : setTimeout(() => setImmediate(() => fail(new Error(`no answer within ${this.#deadlineMs} ms`))), Math.max(0, oldest + this.#deadlineMs - performance.now()));
    this.#run(keys, argv).then(
      (replies) => {
        clearTimeout(timer);
        if (done) return;
        done = true;
        let at = 0;
        for (const answer of answers) {
          const ownerKnown = replies[at] === 1;
          const counted = ownerKnown ? 1 : answer.keys;
          const counts = replies.slice(at + 1, at + 1 + counted);
          settle(answer, () => answer.resolve({ ownerKnown, counts }));
          at += 1 + counted;
        }
      },
      (error: unknown) => {
        clearTimeout(timer);
        fail(error instanceof Error ? error : new Error(String(error)));
      },
    );
  }
}

function settle(answer: Answer, how: () => void): void {
  if (answer.settled) return;
  answer.settled = true;
  how();
}
