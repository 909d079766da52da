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
 * Each operation is a run of ARGV entries (read by position: no string to
 * split in the script), its keys taken in order from KEYS:
 *   c WINDOW PROBE N       count: with PROBE 1, KEYS are the owner marker,
 *                          the owner key's count, then the N count keys; the
 *                          owner's count alone moves when the marker is
 *                          there. Replies {1, count} or {0, N counts}.
 *   s WINDOW TOKEN N (OP HOLD OWNED)xN
 *                          settle: KEYS are N counts, then the turn of each
 *                          step that touches its turn (HOLD above 0 or OWNED
 *                          1), in order: most settles touch none, and their
 *                          keys are most of a batch's bytes. OP keep (a
 *                          failure stays counted), back (the attempt taken
 *                          back), clear (the name starts over); HOLD closes
 *                          the key to every host for the delay earned; OWNED
 *                          gives back the turn this login holds.
 *   o MS                   an owner marker (KEYS: 1), for MS.
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
local k, a = 1, 1
while a <= #ARGV do
  local kind, window = ARGV[a], ARGV[a + 1]
  if kind == 'c' then
    local probe, n = ARGV[a + 2], tonumber(ARGV[a + 3])
    a = a + 4
    if probe == '1' and redis.call('EXISTS', KEYS[k]) == 1 then
      replies[#replies + 1] = 1
      replies[#replies + 1] = redis.call('INCR', KEYS[k + 1])
      redis.call('PEXPIRE', KEYS[k + 1], window)
      k = k + 2 + n
    else
      if probe == '1' then k = k + 2 end
      replies[#replies + 1] = 0
      for i = k, k + n - 1 do
        replies[#replies + 1] = redis.call('INCR', KEYS[i])
        redis.call('PEXPIRE', KEYS[i], window)
      end
      k = k + n
    end
  elseif kind == 's' then
    local token, n = ARGV[a + 2], tonumber(ARGV[a + 3])
    local t = k + n
    for i = 1, n do
      local at = a + 1 + 3 * i
      local how, hold, owned = ARGV[at], tonumber(ARGV[at + 1]), ARGV[at + 2]
      local count = KEYS[k + i - 1]
      if how == 'back' then
        if redis.call('DECR', count) <= 0 then redis.call('DEL', count) else redis.call('PEXPIRE', count, window) end
      elseif how == 'clear' then
        redis.call('DEL', count)
      end
      if hold > 0 or owned == '1' then
        local turn = KEYS[t]
        t = t + 1
        if hold > 0 then
          redis.call('SET', turn, token, 'PX', hold)
        elseif redis.call('GET', turn) == token then
          redis.call('DEL', turn)
        end
      end
    end
    a = a + 4 + 3 * n
    k = t
  elseif kind == 'o' then
    redis.call('SET', KEYS[k], '1', 'PX', window)
    a = a + 2
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

/** What a count found: whether the owner key alone was counted, and each counted key's count after this attempt. */
export interface CountReply {
  readonly ownerKnown: boolean;
  readonly counts: readonly number[];
}

interface Operation {
  readonly argv: readonly string[];
  readonly keys: readonly string[];
  /** A count's reply goes here; settles and markers answer nobody. */
  readonly answer?: Answer;
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

export class ThrottleBatch {
  readonly #run: RunBatch;
  readonly #failed: (error: Error) => void;
  readonly #deadlineMs: number;
  /** The batch being gathered: its operations, and their keys and ARGV entries in order, ready to send. */
  #due: Operation[] = [];
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
      this.#add({
        argv: ['c', String(windowMs), probe ? '1' : '0', String(counts.length)],
        keys: probe ? [probe.marker, probe.ownerCount, ...counts] : counts,
        answer: { keys: counts.length, since: performance.now(), settled: false, resolve, reject },
      });
    });
  }

  /** `turns[i]` is the turn of `counts[i]`; only those of the steps that touch their turn are sent. */
  settle(counts: readonly string[], turns: readonly string[], windowMs: number, token: string, steps: readonly SettleStep[]): void {
    const argv = ['s', String(windowMs), token, String(steps.length)];
    const keys = [...counts];
    steps.forEach((step, i) => {
      const holdMs = Math.max(0, Math.ceil(step.holdMs));
      argv.push(step.how, String(holdMs), step.owned ? '1' : '0');
      if (holdMs > 0 || step.owned) keys.push(turns[i]!);
    });
    this.#add({ argv, keys }, keys.length > counts.length);
  }

  mark(marker: string, ms: number): void {
    this.#add({ argv: ['o', String(Math.max(1, Math.ceil(ms)))], keys: [marker] });
  }

  #add(operation: Operation, urgent = operation.answer !== undefined): void {
    if (this.#due.length === 0) {
      this.#since = performance.now();
      this.#timer = setTimeout(() => this.#onTimer(), GATHER_MS);
    }
    if (urgent) this.#urgent += 1;
    if (!this.#looking && this.#urgent > 0) {
      this.#looking = true;
      setImmediate(() => this.#atTurnEnd());
    }
    this.#due.push(operation);
    for (const key of operation.keys) this.#keys.push(key);
    for (const entry of operation.argv) this.#argv.push(entry);
    this.#arrived = true;
    // A full batch goes at once; the turn-end check finds the next one (if any) begun.
    if (this.#due.length >= MAX_BATCH) this.#send();
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
    if (this.#due.length > 0) this.#send();
  }

  /** Send what is gathered now (the store is closing): a settle left behind would leave its count up for the window. */
  flush(): void {
    if (this.#due.length > 0) this.#send();
  }

  #send(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#urgent = 0;
    const operations = this.#due;
    const keys = this.#keys;
    const argv = this.#argv;
    this.#due = [];
    this.#keys = [];
    this.#argv = [];
    this.#call(operations, keys, argv);
  }

  #call(operations: readonly Operation[], keys: readonly string[], argv: readonly string[]): void {
    const answers: Answer[] = [];
    for (const operation of operations) if (operation.answer) answers.push(operation.answer);
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
