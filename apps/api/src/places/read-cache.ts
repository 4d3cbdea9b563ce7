// Short-lived, single-flight caches of registry reads (a place by id, place lists) for the public
// routes (docs/places.md, "Performance"). They hold registry rows only, never a count: nothing here
// passes or bypasses the privacy gate. A change made through this API instance clears them at once;
// one made through another instance shows after at most 2 × API_PLACES_CACHE_MS (like the `places`
// topic, which also applies changes with a delay).
import type { Database } from '@footfall/db';
import { LRUCache } from 'lru-cache';
import { getPlace, type PlaceRow } from './store.ts';

interface Entry<V> {
  value: Promise<V>;
  loadedAtMs: number;
  refreshing: boolean;
}

/**
 * Stale-while-revalidate: an entry younger than the TTL is served; one younger than twice the TTL is
 * served too while one background load replaces it (so a busy key never makes a request wait on the
 * database); an older one is loaded before answering. A value is thus at most 2 × TTL old.
 */
export class ReadCache<V extends {}> {
  readonly #ttlMs: number;
  readonly #entries: LRUCache<string, Entry<V>>;
  /** Bumped by clear(): a background load begun before a write never stores its (older) answer. */
  #generation = 0;

  constructor(ttlMs: number, max = 20_000) {
    this.#ttlMs = ttlMs;
    this.#entries = new LRUCache({ max });
  }

  /** The cached answer of `key`, or `load()`'s (shared by concurrent callers; a failure is forgotten). */
  get(key: string, load: () => Promise<V>): Promise<V> {
    if (this.#ttlMs <= 0) return load();
    const now = Date.now();
    const e = this.#entries.get(key);
    if (e !== undefined) {
      const age = now - e.loadedAtMs;
      if (age < this.#ttlMs) return e.value;
      if (age < 2 * this.#ttlMs) {
        if (!e.refreshing) {
          e.refreshing = true;
          const generation = this.#generation;
          const next = load();
          next.then(
            () => {
              if (generation === this.#generation)
                this.#entries.set(key, { value: next, loadedAtMs: Date.now(), refreshing: false });
            },
            () => {
              e.refreshing = false;
            },
          );
        }
        return e.value;
      }
    }
    const value = load();
    const entry: Entry<V> = { value, loadedAtMs: now, refreshing: false };
    this.#entries.set(key, entry);
    value.catch(() => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    });
    return value;
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
  }
}

/**
 * Every registry read cache of one API instance, and the place routes' answer caches (places/answers.ts),
 * cleared together on a write through it.
 */
export class RegistryCaches {
  readonly #places: ReadCache<{ row: PlaceRow | undefined }>;
  readonly #lists: ReadCache<{ body: string }>;
  readonly #answers: { clear(): void }[] = [];
  readonly #db: Pick<Database, 'query'>;

  constructor(db: Pick<Database, 'query'>, ttlMs: number) {
    this.#db = db;
    this.#places = new ReadCache(ttlMs);
    this.#lists = new ReadCache(ttlMs, 5_000);
  }

  /** A place by id (undefined: no such place; cached too, a 404 is as cheap as a hit). */
  async place(id: string): Promise<PlaceRow | undefined> {
    return (await this.#places.get(id, async () => ({ row: await getPlace(this.#db, id) }))).row;
  }

  /** A list answer by its query, serialised (registry rows only, no counts). */
  async list(key: string, load: () => Promise<string>): Promise<string> {
    return (await this.#lists.get(key, async () => ({ body: await load() }))).body;
  }

  /**
   * A cache of answers derived from the registry (and gated counts), cleared with the registry: a write
   * through this instance is seen at once; one through another instance after at most 2 × `ttlMs`.
   */
  answers<V extends {}>(ttlMs: number, max: number): ReadCache<V> {
    const cache = new ReadCache<V>(ttlMs, max);
    this.#answers.push(cache);
    return cache;
  }

  clear(): void {
    this.#places.clear();
    this.#lists.clear();
    for (const cache of this.#answers) cache.clear();
  }
}
