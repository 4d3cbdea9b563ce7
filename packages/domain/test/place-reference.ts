// The plain per-place tracker the optimised PlaceTracker replaced (docs/places.md, "Aggregation"): per
// (place, bucket) a map device → number of the place's cells it is in, found through the index's
// cell id → places map at every presence transition. Kept as the reference of
// place-tracker-reference.test.ts: same inputs, same updates, or the layout is wrong.

import type { PartitionAggregator, PlaceDef, PlaceIndex, PlaceOccupancyUpdate } from '../src/index.ts';

class Entry {
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

export class ReferencePlaceTracker {
  readonly #index: PlaceIndex;
  readonly #agg: PartitionAggregator;
  readonly #buckets = new Map<number, Map<string, Entry>>();
  readonly #dirty: Entry[] = [];
  #pending: PlaceOccupancyUpdate[] = [];
  #seq: number;

  constructor(index: PlaceIndex, agg: PartitionAggregator) {
    this.#index = index;
    this.#agg = agg;
    this.#seq = index.seq;
  }

  /** Definition changes are applied before a segment's transitions, while the sets agree with it. */
  observes(): boolean {
    this.#sync();
    return true;
  }

  presence(cell: string, b: number, num: number, present: boolean): void {
    for (const def of this.#index.placesOf(cell)) {
      if (b < def.effectiveFromMs) continue;
      const e = this.#entry(def, b, present);
      if (e === undefined) continue;
      const c = (e.devs.get(num) ?? 0) + (present ? 1 : -1);
      if (c > 0) e.devs.set(num, c);
      else e.devs.delete(num);
      this.#mark(e);
    }
  }

  evict(limitMs: number, bucketMs: number): void {
    this.#sync();
    for (const [b, m] of this.#buckets) {
      if (b + bucketMs > limitMs) continue;
      for (const e of m.values()) this.#flush(e);
      this.#buckets.delete(b);
    }
  }

  drain(): PlaceOccupancyUpdate[] {
    this.#sync();
    for (const e of this.#dirty) this.#flush(e);
    this.#dirty.length = 0;
    const out = this.#pending;
    this.#pending = [];
    return out;
  }

  devicesAt(placeId: string, b: number): number | undefined {
    this.#sync();
    return this.#buckets.get(b)?.get(placeId)?.devs.size;
  }

  forEachPlaceOf(b: number, fn: (def: PlaceDef, devices: number) => void): void {
    this.#sync();
    for (const e of this.#buckets.get(b)?.values() ?? []) if (e.devs.size > 0) fn(e.def, e.devs.size);
  }

  #entry(def: PlaceDef, b: number, create: boolean): Entry | undefined {
    let m = this.#buckets.get(b);
    if (m === undefined) {
      if (!create) return undefined;
      m = new Map();
      this.#buckets.set(b, m);
    }
    const e = m.get(def.id);
    if (e !== undefined && e.def === def) return e;
    if (!create) return undefined;
    const fresh = new Entry(def, b);
    if (e !== undefined) {
      fresh.emitted = e.emitted;
      e.dirty = false;
    }
    m.set(def.id, fresh);
    return fresh;
  }

  #mark(e: Entry): void {
    if (!e.dirty) {
      e.dirty = true;
      this.#dirty.push(e);
    }
  }

  #flush(e: Entry): void {
    if (!e.dirty) return;
    e.dirty = false;
    if (e.devs.size === e.emitted) return;
    e.emitted = e.devs.size;
    this.#pending.push({
      placeId: e.def.id,
      region: e.def.region,
      bucketStartMs: e.bucketStartMs,
      devices: e.devs.size,
      version: e.def.version,
    });
  }

  #sync(): void {
    const seq = this.#index.seq;
    if (seq === this.#seq) return;
    const changed = this.#index.changesSince(this.#seq);
    this.#seq = seq;
    const ids = new Set(changed ?? [...this.#index.values()].map((d) => d.id));
    if (changed === undefined) for (const m of this.#buckets.values()) for (const id of m.keys()) ids.add(id);
    for (const id of ids) this.#rebuild(id);
  }

  #rebuild(id: string): void {
    const def = this.#index.get(id);
    if (def === undefined) {
      for (const m of this.#buckets.values()) {
        const e = m.get(id);
        if (e === undefined) continue;
        e.dirty = false;
        m.delete(id);
      }
      return;
    }
    for (const b of this.#agg.openBucketStarts()) {
      if (b < def.effectiveFromMs) continue;
      let m = this.#buckets.get(b);
      const old = m?.get(id);
      if (old?.def === def) continue;
      const e = new Entry(def, b);
      e.emitted = old?.emitted ?? 0;
      for (const c of def.cells)
        for (const num of this.#agg.presentIn(c, b)?.keys() ?? [])
          e.devs.set(num, (e.devs.get(num) ?? 0) + 1);
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
      this.#mark(e);
    }
  }
}
