/**
 * A bounded memo of a function's recent results, for a value that costs more
 * to make than to look up and is asked for again and again (a throttle key's
 * digest, on every login of a busy user).
 *
 * Two generations of at most `perGeneration` entries: a value is looked up in
 * the newer, then in the older (and carried into the newer), then made. When
 * the newer is full the older is dropped whole and the newer takes its place.
 * What was asked for within the last generation stays; at most twice
 * `perGeneration` values are held. lru-cache keeps an exact order of recency,
 * which a memo does not need and which costs it an allocation on every look-up.
 */
export class RecentMemo<K, V> {
  readonly #perGeneration: number;
  readonly #make: (key: K) => V;
  #newer = new Map<K, V>();
  #older = new Map<K, V>();

  constructor(perGeneration: number, make: (key: K) => V) {
    if (!Number.isInteger(perGeneration) || perGeneration < 1) throw new RangeError(`a memo's generation holds at least one value, not ${perGeneration}`);
    this.#perGeneration = perGeneration;
    this.#make = make;
  }

  get(key: K): V {
    const recent = this.#newer.get(key);
    if (recent !== undefined || this.#newer.has(key)) return recent as V;
    const value = this.#older.has(key) ? (this.#older.get(key) as V) : this.#make(key);
    if (this.#newer.size >= this.#perGeneration) {
      this.#older = this.#newer;
      this.#newer = new Map();
    }
    this.#newer.set(key, value);
    return value;
  }

  /** Values held now (at most twice the generation's size; a value in both generations counts twice). */
  get size(): number {
    return this.#newer.size + this.#older.size;
  }
}
