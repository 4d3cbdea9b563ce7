// Exact distinct devices per (place, bucket) in one partition (docs/places.md): the union of the device
// sets of the place's cells, never a sum of cell counts. Fed by the aggregator's presence transitions
// (a device entering or leaving a (cell, bucket)); pure, no I/O.

import type { PlaceDef, PlaceIndex } from './place-index.ts';

/** Latest value of occupancy(place, bucket); may go down like a cell's (upsert, not max). */
export interface PlaceOccupancyUpdate {
  placeId: string;
  /** The place's region (its partition key on `aggregated`). */
  region: string;
  bucketStartMs: number;
  devices: number;
  /** Definition version the count was computed with. */
  version: number;
}

/** What the tracker reads from the aggregator when a definition changes: the open (cell, bucket) sets. */
export interface PresenceSource {
  /** Bucket starts held (not yet evicted). */
  openBucketStarts(): Iterable<number>;
  /** device number → contributions, of devices present in (cell, bucket); undefined if none. */
  presentIn(cell: string, bucketStartMs: number): ReadonlyMap<number, number> | undefined;
}

class PlaceBucket {
  /** device number → number of the place's cells the device is present in during this bucket. */
  readonly devs = new Map<number, number>();
  emitted = 0;
  dirty = false;
  readonly def: PlaceDef;
  readonly bucketStartMs: number;
  constructor(def: PlaceDef, bucketStartMs: number) {
    this.def = def;
    this.bucketStartMs = bucketStartMs;
  }
}

/**
 * Per-partition place occupancy. A device present in two cells of one place in one bucket counts once
 * (the bucket's device map counts the cells it is in; the place count is the map's size).
 *
 * Definition changes are pulled from the shared {@link PlaceIndex} at every {@link drain} and
 * {@link evict}: buckets at or after the new version's `effectiveFromMs` are rebuilt from the
 * aggregator's open (cell, bucket) sets (so they are exact under the new definition whenever it
 * arrives); earlier buckets keep the old version's value and are no longer changed; a deleted place's
 * buckets are dropped.
 */
export class PlaceTracker {
  readonly #index: PlaceIndex;
  readonly #source: PresenceSource;
  readonly #buckets = new Map<number, Map<string, PlaceBucket>>();
  readonly #dirty: PlaceBucket[] = [];
  #pending: PlaceOccupancyUpdate[] = [];
  #seq: number;

  constructor(index: PlaceIndex, source: PresenceSource) {
    this.#index = index;
    this.#source = source;
    this.#seq = index.seq;
    // Places already defined apply from the start: nothing is open yet.
  }

  /** The device `num` entered (`present`) or left (cell, bucket). Called by the aggregator. */
  presence(cell: string, bucketStartMs: number, num: number, present: boolean): void {
    // The aggregator calls this before it changes the (cell, bucket) set, so a rebuild here reads the
    // state without this transition and the transition is applied once, below.
    if (this.#index.seq !== this.#seq) this.#sync();
    const places = this.#index.placesOf(cell);
    for (let i = 0; i < places.length; i++) {
      const def = places[i] as PlaceDef;
      if (bucketStartMs < def.effectiveFromMs) continue;
      const e = this.#bucket(def, bucketStartMs, present);
      if (e === undefined) continue;
      const c = (e.devs.get(num) ?? 0) + (present ? 1 : -1);
      if (c > 0) e.devs.set(num, c);
      else e.devs.delete(num);
      this.#markDirty(e);
    }
  }

  /** Drops buckets ending at or before `limitMs` (they can no longer change); flushes them first. */
  evict(limitMs: number, bucketMs: number): void {
    this.#sync();
    for (const [b, m] of this.#buckets) {
      if (b + bucketMs > limitMs) continue;
      for (const e of m.values()) this.#flush(e);
      this.#buckets.delete(b);
    }
  }

  /** Changed place counts since the previous drain. */
  drain(): PlaceOccupancyUpdate[] {
    this.#sync();
    for (const e of this.#dirty) this.#flush(e);
    this.#dirty.length = 0;
    const out = this.#pending;
    this.#pending = [];
    return out;
  }

  /** Current count of a held (place, bucket); undefined if none. */
  devicesAt(placeId: string, bucketStartMs: number): number | undefined {
    this.#sync();
    return this.#buckets.get(bucketStartMs)?.get(placeId)?.devs.size;
  }

  /** Each place with devices in a held bucket, with its current distinct count (live-place-edge.ts). */
  forEachPlaceOf(bucketStartMs: number, fn: (def: PlaceDef, devices: number) => void): void {
    this.#sync();
    const m = this.#buckets.get(bucketStartMs);
    if (m === undefined) return;
    for (const e of m.values()) if (e.devs.size > 0) fn(e.def, e.devs.size);
  }

  /** (place, bucket) entries held. */
  get size(): number {
    let n = 0;
    for (const m of this.#buckets.values()) n += m.size;
    return n;
  }

  #bucket(def: PlaceDef, b: number, create: boolean): PlaceBucket | undefined {
    let m = this.#buckets.get(b);
    if (m === undefined) {
      if (!create) return undefined;
      m = new Map();
      this.#buckets.set(b, m);
    }
    const e = m.get(def.id);
    if (e !== undefined && e.def === def) return e;
    if (!create) return undefined;
    // None yet, or one of an older version the last rebuild did not reach (no open cell bucket then).
    const fresh = new PlaceBucket(def, b);
    if (e !== undefined) {
      fresh.emitted = e.emitted;
      e.dirty = false;
    }
    m.set(def.id, fresh);
    return fresh;
  }

  #markDirty(e: PlaceBucket): void {
    if (!e.dirty) {
      e.dirty = true;
      this.#dirty.push(e);
    }
  }

  #flush(e: PlaceBucket): void {
    if (!e.dirty) return;
    e.dirty = false;
    const d = e.devs.size;
    if (d === e.emitted) return;
    e.emitted = d;
    this.#pending.push({
      placeId: e.def.id,
      region: e.def.region,
      bucketStartMs: e.bucketStartMs,
      devices: d,
      version: e.def.version,
    });
  }

  /** Applies definition changes made since the last pull. */
  #sync(): void {
    const seq = this.#index.seq;
    if (seq === this.#seq) return;
    const changed = this.#index.changesSince(this.#seq);
    this.#seq = seq;
    const ids = changed ?? this.#allIds();
    for (const id of ids) this.#rebuild(id);
  }

  #allIds(): string[] {
    const ids = new Set<string>();
    for (const def of this.#index.values()) ids.add(def.id);
    for (const m of this.#buckets.values()) for (const id of m.keys()) ids.add(id);
    return [...ids];
  }

  /** Rebuilds the open buckets of one place under its current definition (or drops them if deleted). */
  #rebuild(id: string): void {
    const def = this.#index.get(id);
    if (def === undefined) {
      for (const m of this.#buckets.values()) {
        const e = m.get(id);
        if (e !== undefined) {
          e.dirty = false; // never flushed again (the entry may still sit in the dirty list)
          m.delete(id);
        }
      }
      return;
    }
    for (const b of this.#source.openBucketStarts()) {
      if (b < def.effectiveFromMs) continue;
      let m = this.#buckets.get(b);
      const old = m?.get(id);
      if (old?.def === def) continue;
      const e = new PlaceBucket(def, b);
      e.emitted = old?.emitted ?? 0;
      for (const c of def.cells) {
        const devs = this.#source.presentIn(c, b);
        if (devs === undefined) continue;
        for (const num of devs.keys()) e.devs.set(num, (e.devs.get(num) ?? 0) + 1);
      }
      if (old !== undefined) old.dirty = false;
      if (e.devs.size === 0 && e.emitted === 0) {
        m?.delete(id);
        continue;
      }
      if (m === undefined) {
        m = new Map();
        this.#buckets.set(b, m);
      }
      m.set(id, e);
      this.#markDirty(e);
    }
  }
}
