/**
 * Which stored value an unknown user's login is checked against, so that it
 * costs what a real user's does and timing does not tell which names exist.
 *
 * The choice must not be steerable by the requests themselves: "the last value
 * verified" let a requester touch one md5crypt user and make every unknown
 * name fast in a bcrypt table, or touch one costly row and make every unknown
 * name expensive. So the dummy is the most common kind of value (scheme and
 * cost) among the table's own values:
 *   - sampled from the backend when the generation starts (start-up, SIGHUP),
 *     where the backend can list values (passwd-file, -a mysql with columns);
 *   - otherwise counted over distinct stored values as logins verify them:
 *     hammering one user counts once, and a requester cannot add rows.
 * Values above the cost ceilings never count (they are refused, not computed).
 */
import { growingLru } from '../common/growing-lru.js';
import type { DefaultScheme } from './default-scheme.js';
import { plan, type Plan } from './plan.js';
import type { CostCeilings } from './schemes/crypt-strings.js';

/** Distinct stored values remembered for counting, per default scheme. */
const COUNTED_VALUES = 4096;

/** The kind of a stored value, as far as its cost goes: the scheme and its cost parameters. */
export function costClass(chosen: Plan): string | undefined {
  if (chosen.kind === 'inline') return chosen.scheme;
  if (chosen.kind !== 'lane') return undefined;
  const { task } = chosen;
  switch (task.kind) {
    case 'sha-crypt':
      return `${chosen.scheme}:${task.parsed.rounds}`;
    case 'bcrypt':
      return `${chosen.scheme}:${task.stored.slice(4, 6)}`;
    case 'argon2':
      return `${chosen.scheme}:${/m=\d+,t=\d+/.exec(task.stored)?.[0] ?? ''}`;
    case 'phpass':
      return `${chosen.scheme}:${task.parsed.iterations}`;
    case 'md5crypt':
    case 'des':
      // A fixed cost: the scheme says it all.
      return chosen.scheme;
  }
}

/** Counts of cost classes over distinct values, and one value of each class. */
class ClassCounts {
  readonly #counts = new Map<string, { count: number; value: string }>();
  readonly #seen = growingLru<string, string>(COUNTED_VALUES, {
    dispose: (costKind) => this.#forget(costKind),
  });

  add(value: string, costKind: string): void {
    if (this.#seen.has(value)) return;
    this.#seen.set(value, costKind);
    const entry = this.#counts.get(costKind);
    if (entry) entry.count += 1;
    else this.#counts.set(costKind, { count: 1, value });
  }

  /** A value of the most common class; ties go to the class seen first. */
  mostCommon(): string | undefined {
    let best: { count: number; value: string } | undefined;
    for (const entry of this.#counts.values()) if (!best || entry.count > best.count) best = entry;
    return best?.value;
  }

  #forget(costKind: string): void {
    const entry = this.#counts.get(costKind);
    if (!entry) return;
    entry.count -= 1;
    if (entry.count <= 0) this.#counts.delete(costKind);
  }
}

export class DummyChoice {
  readonly #ceilings: CostCeilings | undefined;
  /** From the backend's sample: fixed for the generation. */
  readonly #sampled = new Map<DefaultScheme, string>();
  /** Counted as logins verify values, where there was no sample. */
  readonly #counted = new Map<DefaultScheme, ClassCounts>();

  constructor(ceilings?: CostCeilings) {
    this.#ceilings = ceilings;
  }

  /** The backend's own values, read when the generation starts. */
  sample(values: readonly string[], defaultScheme: DefaultScheme): void {
    const counts = new ClassCounts();
    for (const value of values) {
      const kind = costClass(plan(Buffer.alloc(0), value, defaultScheme, this.#ceilings));
      if (kind !== undefined) counts.add(value, kind);
    }
    const chosen = counts.mostCommon();
    if (chosen !== undefined) this.#sampled.set(defaultScheme, chosen);
  }

  /** A value a real login verified (with a verdict): counted once per distinct value. */
  saw(value: string, chosen: Plan, defaultScheme: DefaultScheme): void {
    if (this.#sampled.has(defaultScheme)) return;
    const kind = costClass(chosen);
    if (kind === undefined) return;
    let counts = this.#counted.get(defaultScheme);
    if (!counts) this.#counted.set(defaultScheme, (counts = new ClassCounts()));
    counts.add(value, kind);
  }

  /** The value to check an unknown user against, when there is one yet. */
  valueFor(defaultScheme: DefaultScheme): string | undefined {
    return this.#sampled.get(defaultScheme) ?? this.#counted.get(defaultScheme)?.mostCommon();
  }
}
