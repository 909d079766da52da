/**
 * A least-recently-used map whose storage grows with its entries.
 *
 * lru-cache given `max` allocates its arrays for `max` entries up front. The
 * daemon keeps about a dozen such tables, sized for an attack (tens of
 * thousands of names or addresses) that most hosts never see, so that
 * allocation alone was most of an idle daemon's own memory. Bounded by
 * `maxSize` with every entry counting one, the bound on the number of entries
 * is the same and the arrays grow as entries arrive.
 */
import { LRUCache } from 'lru-cache';

/** What lru-cache takes as a key or a value: anything but null and undefined. */
type Present = NonNullable<unknown>;

export type GrowingLruOptions<K extends Present, V extends Present> = Omit<LRUCache.Options<K, V, unknown>, 'max' | 'maxSize' | 'sizeCalculation' | 'maxEntrySize'>;

const oneEntry = (): number => 1;

/** At most `entries` entries, the least recently used pushed out first. */
export function growingLru<K extends Present, V extends Present>(entries: number, options: GrowingLruOptions<K, V> = {}): LRUCache<K, V> {
  if (!Number.isInteger(entries) || entries < 1) throw new RangeError(`an LRU table holds at least one entry, not ${entries}`);
  return new LRUCache<K, V>(Object.assign({}, options, { maxSize: entries, sizeCalculation: oneEntry }));
}
