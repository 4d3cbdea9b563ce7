// Single-flight caches of registry reads (a place by id, place lists) for the public routes, and the
// registry check that keeps them and the place answer caches current (docs/places.md, "Performance").
// The registry caches hold registry rows only, never a count; the answer caches hold only gated answers.
// A change made through this API instance clears them at once; one made through another instance shows
// after at most 2 × API_PLACES_CACHE_MS (like the `places` topic, which also applies changes with a delay).
import type { Database } from '@footfall/db';
import { LRUCache } from 'lru-cache';
import { getPlace, type PlaceRow } from './store.ts';

const MAX_PLACES = 20_000;

interface Entry<V> {
  value: Promise<V>;
  loadedAtMs: number;
  refreshing: boolean;
  /** The value once `value` resolved: what `peek` answers without a promise. */
  resolved?: V;
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

  /**
   * The cached answer of `key`, or `load()`'s (shared by concurrent callers; a failure is forgotten).
   * A reload of a held key gets the value it replaces (`previous`), so that it can revalidate it with a
   * cheap probe and return it as is when nothing changed (settled-counts.ts) instead of reading it again.
   */
  get(key: string, load: (previous: V | undefined) => Promise<V>): Promise<V> {
    if (this.#ttlMs <= 0) return load(undefined);
    const now = Date.now();
    const e = this.#entries.get(key);
    if (e !== undefined) {
      const age = now - e.loadedAtMs;
      if (age < this.#ttlMs) return e.value;
      if (age < 2 * this.#ttlMs) {
        if (!e.refreshing) {
          e.refreshing = true;
          const generation = this.#generation;
          const next = e.value.then(load, () => load(undefined));
          next.then(
            (resolved) => {
              if (generation === this.#generation)
                this.#entries.set(key, { value: next, loadedAtMs: Date.now(), refreshing: false, resolved });
            },
            () => {
              e.refreshing = false;
            },
          );
        }
        return e.value;
      }
    }
    // Expired: loaded before answering, from the held value (a load that failed meanwhile: from scratch).
    const value = e === undefined ? load(undefined) : e.value.then(load, () => load(undefined));
    const entry: Entry<V> = { value, loadedAtMs: now, refreshing: false };
    this.#entries.set(key, entry);
    value.then(
      (resolved) => {
        entry.resolved = resolved;
      },
      () => {
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      },
    );
    return value;
  }

  /**
   * The held value of `key` if it is loaded and fresh (younger than the TTL), without a promise: the
   * place routes answer a hit synchronously (each await of the async path is a few microtasks per
   * request). Anything else (a miss, a load under way, a stale entry): undefined, and `get` decides.
   */
  peek(key: string): V | undefined {
    const e = this.#entries.get(key);
    if (e?.resolved === undefined || Date.now() - e.loadedAtMs >= this.#ttlMs) return undefined;
    return e.resolved;
  }

  /** Whether `key` is held (without touching its recency). */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** Forgets `key` (a background load already running for it does not store its answer). */
  delete(key: string): void {
    this.#generation++;
    this.#entries.delete(key);
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
  }
}

/**
 * Every registry read cache of one API instance, and the place routes' answer caches, kept current by
 * one registry check per API_PLACES_CACHE_MS instead of one reload per cached entry (with 1 000 busy
 * places that was 1 000 queries a second, more than the pool served under load, so requests queued
 * behind refreshes). The check reads the version of every cached place (an update bumps it, a delete
 * removes the row) and a stamp of the whole registry (the count and the sum of 64-bit hashes of every
 * (id, version): any create, update or delete changes it, short of a hash collision): a changed or
 * vanished place is dropped; a changed stamp drops every list and answer cache. The check runs in the
 * background once the last one is API_PLACES_CACHE_MS old, and is awaited before answering once it is
 * twice that old, so nothing is served from a registry state older than 2 × API_PLACES_CACHE_MS.
 */
export class RegistryCaches {
  // Each entry keeps the registry stamp of the last check before it was read (`#unchangedSince`).
  readonly #places: ReadCache<{ row: PlaceRow | undefined; stamp: string | undefined }>;
  readonly #lists: ReadCache<{ body: Buffer; stamp: string | undefined }>;
  readonly #answers: { clear(): void }[] = [];
  readonly #db: Pick<Database, 'query'>;
  readonly #ttlMs: number;
  /** Version of each cached place as loaded (-1: no such place). */
  readonly #versions = new Map<string, number>();
  #checkedAtMs = Number.NEGATIVE_INFINITY;
  #check: Promise<void> | undefined;
  #stamp: string | undefined;

  constructor(db: Pick<Database, 'query'>, ttlMs: number, holdMs = 60_000) {
    this.#db = db;
    this.#ttlMs = ttlMs;
    // Kept until the check drops them, reloaded after `holdMs` anyway; off with API_PLACES_CACHE_MS=0.
    const hold = ttlMs > 0 ? Math.max(ttlMs, holdMs) : 0;
    this.#places = new ReadCache(hold, MAX_PLACES);
    this.#lists = new ReadCache(hold, 5_000);
  }

  /** A place by id (undefined: no such place; cached too, a 404 is as cheap as a hit). */
  async place(id: string): Promise<PlaceRow | undefined> {
    await this.current();
    return (
      await this.#places.get(id, async (previous) => {
        if (this.#unchangedSince(previous)) return previous;
        const stamp = this.#stamp;
        const row = await getPlace(this.#db, id);
        this.#versions.set(id, row?.version ?? -1);
        return { row, stamp };
      })
    ).row;
  }

  /**
   * The place `id` if the registry check is current and the place is held fresh (`{ row: undefined }`:
   * known not to exist), without a promise; undefined: ask `place`.
   */
  placeNow(id: string): { row: PlaceRow | undefined } | undefined {
    if (this.current() !== undefined) return undefined;
    return this.#places.peek(id);
  }

  /** A list answer by its query, serialised (registry rows only, no counts). */
  async list(key: string, load: () => Promise<Buffer>): Promise<Buffer> {
    await this.current();
    return (
      await this.#lists.get(key, async (previous) => {
        if (this.#unchangedSince(previous)) return previous;
        const stamp = this.#stamp;
        return { body: await load(), stamp };
      })
    ).body;
  }

  /**
   * A cache of answers derived from the registry (and gated counts), cleared with the registry: a write
   * through this instance is seen at once; one through another instance as described above.
   */
  answers<V extends {}>(ttlMs: number, max: number): ReadCache<V> {
    const cache = new ReadCache<V>(ttlMs, max);
    this.#answers.push(cache);
    return cache;
  }

  /** Resolves once the caches reflect a registry state at most 2 × API_PLACES_CACHE_MS old. */
  current(): Promise<void> | undefined {
    if (this.#ttlMs <= 0) return undefined;
    const age = Date.now() - this.#checkedAtMs;
    if (age < this.#ttlMs) return undefined;
    if (this.#check === undefined) {
      const check = this.#runCheck();
      this.#check = check;
      check.then(
        () => {
          if (this.#check === check) this.#check = undefined;
        },
        () => {
          if (this.#check === check) this.#check = undefined;
        },
      );
    }
    return age < 2 * this.#ttlMs ? undefined : this.#check;
  }

  async #runCheck(): Promise<void> {
    const startedAtMs = Date.now();
    // Places the LRU evicted need no check.
    for (const id of this.#versions.keys()) if (!this.#places.has(id)) this.#versions.delete(id);
    const ids = [...this.#versions.keys()];
    const { rows } = await this.#db.query<{ versions: [string, number][]; stamp: string }>(
      `SELECT (SELECT coalesce(json_agg(json_build_array(id, version)), '[]'::json)
                 FROM places WHERE id = ANY($1::text[])) AS versions,
              (SELECT count(*) || ':' || coalesce(sum(hashtextextended(id || ':' || version, 0)::numeric), 0)
                 FROM places) AS stamp`,
      [ids],
      { name: 'api_registry_check' },
    );
    const now = new Map(rows[0]?.versions ?? []);
    for (const id of ids) {
      const seen = this.#versions.get(id);
      if (seen !== undefined && (now.get(id) ?? -1) !== seen) {
        this.#versions.delete(id);
        this.#places.delete(id);
      }
    }
    const stamp = rows[0]?.stamp;
    if (this.#stamp !== undefined && stamp !== this.#stamp) this.#clearDerived();
    this.#stamp = stamp;
    this.#checkedAtMs = Math.max(this.#checkedAtMs, startedAtMs);
  }

  /**
   * Whether a held entry being reloaded (after `holdMs`) can be kept: the registry stamp is the one
   * of the last check before it was read, so no place was created, changed or deleted since (short of
   * a hash collision). Keeps the hold's reloads of 1 000 busy places (and of every cached list) from
   * rereading the registry each minute; anything changed is dropped by the check as before.
   */
  #unchangedSince<E extends { stamp: string | undefined }>(previous: E | undefined): previous is E {
    return previous !== undefined && previous.stamp !== undefined && previous.stamp === this.#stamp;
  }

  #clearDerived(): void {
    this.#lists.clear();
    for (const cache of this.#answers) cache.clear();
  }

  clear(): void {
    this.#places.clear();
    this.#versions.clear();
    this.#clearDerived();
  }
}
