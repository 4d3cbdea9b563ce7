// The live edge of named places (docs/places.md, "Live edge"): the provisional distinct-device count of
// each (place, bucket) near now, with presence carried to now and the region's nowcast. A place count is
// never a sum of its cells' provisional counts: the confirmed part is the PlaceTracker's exact union
// (a device in two cells of the place counts once), and a carried device is added once per place that
// holds its latest cell. The two parts are disjoint: a device is carried into bucket b only if its
// latest ping is before b, so no ping of it in b makes it confirmed there.
// Read-only on the aggregator and the tracker, like LiveEdge: the final place counts do not depend on it.

import type { PartitionAggregator } from './aggregator.ts';
import { type LiveEdge, type LiveNowcast, sameNowcast } from './live-edge.ts';
import type { CountParts } from './nowcast.ts';
import type { PlaceDef, PlaceIndex } from './place-index.ts';
import type { PlaceTracker } from './place-occupancy.ts';

/** Latest provisional value of one (place, bucket); upsert by key, only changes are emitted. */
export interface LivePlaceOccupancyUpdate extends LiveNowcast {
  placeId: string;
  /** The place's region (its partition key on `aggregated`, and whose nowcast model applies). */
  region: string;
  bucketStartMs: number;
  /** Definition version the count was computed with. */
  version: number;
}

interface Parts {
  def: PlaceDef;
  n: number;
  long: number;
  short: number;
}

export class LivePlaceEdge {
  readonly #edge: LiveEdge;
  readonly #tracker: PlaceTracker;
  readonly #index: PlaceIndex;
  /** `place|bucket` → last emitted update. */
  #emitted = new Map<string, LivePlaceOccupancyUpdate>();

  constructor(edge: LiveEdge, tracker: PlaceTracker, index: PlaceIndex) {
    this.#edge = edge;
    this.#tracker = tracker;
    this.#index = index;
  }

  /**
   * The places' provisional values at `nowMs` that changed since the previous snapshot. Call after
   * {@link LiveEdge.snapshot} of the same `nowMs` (it teaches the model the factors used here).
   */
  snapshot(agg: PartitionAggregator, nowMs: number): LivePlaceOccupancyUpdate[] {
    const edge = this.#edge;
    const { bucketMs, presenceMaxGapMs } = edge.options;
    const longStayMs = edge.options.longStayMs ?? 300_000;
    const nowBucket = Math.floor(nowMs / bucketMs) * bucketMs;
    const oldest = nowBucket - (edge.windowBuckets - 1) * bucketMs;
    const byBucket = new Map<number, Map<string, Parts>>();
    for (let b = oldest; b <= nowBucket; b += bucketMs) {
      const m = new Map<string, Parts>();
      this.#tracker.forEachPlaceOf(b, (def, n) => m.set(def.id, { def, n, long: 0, short: 0 }));
      byBucket.set(b, m);
    }
    if (this.#index.size > 0) {
      agg.forEachLatestPresence((cell, _region, t, stayStart) => {
        if (!(nowMs - t <= presenceMaxGapMs) || t > nowMs) return;
        const places = this.#index.placesOf(cell);
        if (places.length === 0) return;
        const long = t - stayStart >= longStayMs;
        for (
          let b = Math.max(Math.floor(t / bucketMs) * bucketMs + bucketMs, oldest);
          b <= nowBucket;
          b += bucketMs
        ) {
          const m = byBucket.get(b) as Map<string, Parts>;
          for (const def of places) {
            if (b < def.effectiveFromMs) continue;
            let e = m.get(def.id);
            if (e === undefined) {
              e = { def, n: 0, long: 0, short: 0 };
              m.set(def.id, e);
            }
            if (long) e.long++;
            else e.short++;
          }
        }
      });
    }
    const out: LivePlaceOccupancyUpdate[] = [];
    const emitted = new Map<string, LivePlaceOccupancyUpdate>();
    for (const [b, places] of byBucket) {
      const lag = edge.lagOf(b, nowMs);
      for (const e of places.values()) {
        const u = this.#update(e.def, b, lag, [e.n, e.long, e.short], nowMs);
        const key = `${e.def.id}|${b}`;
        emitted.set(key, u);
        const prev = this.#emitted.get(key);
        if (!(sameNowcast(prev, u) && prev?.version === u.version)) out.push(u);
      }
    }
    // A (place, bucket) shown before that has nobody left, or a deleted place: withdraw it (0).
    for (const [key, prev] of this.#emitted) {
      if (emitted.has(key) || prev.bucketStartMs < oldest || prev.observed === 0) continue;
      const u: LivePlaceOccupancyUpdate = {
        ...prev,
        ...edge.nowcast(prev.region, prev.bucketStartMs, 0, [0, 0, 0], nowMs),
        completeness: prev.completeness,
      };
      emitted.set(key, u);
      out.push(u);
    }
    this.#emitted = emitted;
    return out;
  }

  #update(def: PlaceDef, b: number, lag: number, parts: CountParts, nowMs: number): LivePlaceOccupancyUpdate {
    return {
      placeId: def.id,
      region: def.region,
      bucketStartMs: b,
      version: def.version,
      ...this.#edge.nowcast(def.region, b, lag, parts, nowMs),
    };
  }
}
