// Exact distinct devices per (place, bucket) in one partition (docs/places.md): the union of the device
// sets of the place's cells, never a sum of cell counts. Fed by the aggregator's presence transitions
// (a device entering or leaving a (cell, bucket)); pure, no I/O.
//
// Layout (docs/places.md, "Aggregation"): places and cells are small integers of this partition; a
// cell's places are found by the aggregator's cell number (place-table.ts; a cell without places costs
// one byte read per presence segment); the counts of one bucket are one typed array indexed by place
// number; whether a device is already in another cell of a place is read from its presence runs
// (place-runs.ts), so there is no device set per (place, bucket).

import type { DeviceState } from './device-state.ts';
import type { PlaceDef, PlaceIndex } from './place-index.ts';
import { addRun, RUN_STRIDE, removeCells, removeRun } from './place-runs.ts';
import { PlaceTable } from './place-table.ts';

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

/** What the tracker reads from the aggregator: cell numbers, devices, and the open (cell, bucket) sets. */
export interface PresenceSource {
  /** Bucket starts held (not yet evicted). */
  openBucketStarts(): Iterable<number>;
  /** device number → contributions, of devices present in (cell, bucket); undefined if none. */
  presentIn(cell: string, bucketStartMs: number): ReadonlyMap<number, number> | undefined;
  /** The cell's number if the aggregator has seen it (never interns). */
  cellNumber(cell: string): number | undefined;
  /** The cell id of a cell number. */
  cellName(num: number): string;
  /** Every device held (a definition change re-reads their presence). */
  forEachDevice(fn: (dev: DeviceState) => void): void;
  readonly options: { readonly bucketMs: number };
}

/** What the aggregator's occupancy store calls (PlaceTracker; bench/nowcast-diagnose.ts has its own). */
export interface PresenceObserver {
  /**
   * Whether transitions in this cell matter; called before the transitions of each presence segment, so
   * pending definition changes are applied here, while the cell sets and the observer agree. Absent:
   * every transition is reported.
   */
  observes?(cellNum: number): boolean;
  /** The device `num` entered (`present`) or left (cell, bucket); the cell set has already changed. */
  presence(
    cell: string,
    bucketStartMs: number,
    num: number,
    present: boolean,
    cellNum: number,
    dev: DeviceState,
  ): void;
  drain(): PlaceOccupancyUpdate[];
  evict(limitMs: number, bucketMs: number): void;
}

/** Fields per place in {@link BucketCounts.v}: current count, last emitted count, dirty flag. */
const STRIDE = 3;
const EMITTED = 1;
const DIRTY = 2;

/**
 * Counts of every place of this partition in one bucket, by place number: the three fields of a place
 * side by side, so a transition or a flush touches one cache line, not three arrays.
 */
class BucketCounts {
  readonly bucketStartMs: number;
  v: Int32Array;
  /** Place numbers marked dirty since the last flush (each once). */
  readonly dirtyList: number[] = [];
  /**
   * Buckets before a place's current `effectiveFromMs` keep the value of the version that computed
   * them (frozen): place number → that version, for the flush and the live edge.
   */
  frozen: Map<number, PlaceDef> | null = null;
  constructor(bucketStartMs: number, capacity: number) {
    this.bucketStartMs = bucketStartMs;
    this.v = new Int32Array(capacity * STRIDE);
  }

  grow(capacity: number): void {
    const v = new Int32Array(capacity * STRIDE);
    v.set(this.v);
    this.v = v;
  }

  count(p: number): number {
    return this.v[p * STRIDE] as number;
  }

  mark(p: number): void {
    const i = p * STRIDE + DIRTY;
    if (this.v[i] === 0) {
      this.v[i] = 1;
      this.dirtyList.push(p);
    }
  }

  defOf(p: number, places: PlaceTable): PlaceDef | undefined {
    return this.frozen?.get(p) ?? places.def(p);
  }
}

/**
 * Per-partition place occupancy. A device present in two cells of one place in one bucket counts once:
 * it is counted when it enters a cell of the place while in no other cell of it in that bucket (its
 * presence runs say), and uncounted when it leaves the last one.
 *
 * Definition changes are pulled from the shared {@link PlaceIndex} before each presence segment and at
 * every {@link drain} and {@link evict}: buckets at or after the new version's `effectiveFromMs` are
 * rebuilt from the aggregator's open (cell, bucket) sets (so they are exact under the new definition
 * whenever it arrives); earlier buckets keep the old version's value and are no longer changed; a
 * deleted place's buckets are dropped.
 */
export class PlaceTracker implements PresenceObserver {
  readonly #index: PlaceIndex;
  readonly #source: PresenceSource;
  readonly #bucketMs: number;
  readonly #places: PlaceTable;
  readonly #buckets = new Map<number, BucketCounts>();
  readonly #dirty: BucketCounts[] = [];
  /** One-entry cache of #buckets (a segment's transitions walk consecutive buckets). */
  #last: BucketCounts | undefined;
  #pending: PlaceOccupancyUpdate[] = [];
  #seq: number;
  /** Runs ending before this bucket index are of evicted buckets. */
  #minBi = Number.NEGATIVE_INFINITY;

  constructor(index: PlaceIndex, source: PresenceSource) {
    this.#index = index;
    this.#source = source;
    this.#bucketMs = source.options.bucketMs;
    this.#places = new PlaceTable(
      index,
      (num) => source.cellName(num),
      (cap) => this.#grow(cap),
    );
    this.#seq = index.seq;
    // Places already defined apply from the start: nothing is open yet.
  }

  observes(cellNum: number): boolean {
    if (this.#index.seq !== this.#seq) this.#sync();
    return this.#places.hasPlaces(cellNum);
  }

  presence(
    _cell: string,
    bucketStartMs: number,
    _num: number,
    present: boolean,
    cellNum: number,
    dev: DeviceState,
  ): void {
    const table = this.#places;
    const places = table.placesOfCell(cellNum);
    const bi = bucketStartMs / this.#bucketMs;
    if (!present) removeRun(dev, cellNum, bi);
    let e = this.#last;
    if (e === undefined || e.bucketStartMs !== bucketStartMs) {
      e = this.#bucket(bucketStartMs);
      this.#last = e;
    }
    // Other place cells the device is in during this bucket (usually none).
    const runs = dev.placeRuns;
    let others = false;
    for (let i = 0; i < runs.length; i += RUN_STRIDE) {
      if (runs[i] !== cellNum && (runs[i + 1] as number) <= bi && (runs[i + 2] as number) >= bi) {
        others = true;
        break;
      }
    }
    const v = e.v;
    const delta = present ? 1 : -1;
    // The cell's list: place number, its effective time, …
    for (let k = 0; k < places.length; k += 2) {
      if (bucketStartMs < (places[k + 1] as number)) continue;
      const p = places[k] as number;
      if (others && inOtherCell(runs, cellNum, bi, p, table)) continue;
      const i = p * STRIDE;
      v[i] = (v[i] as number) + delta;
      if (v[i + DIRTY] === 0) {
        v[i + DIRTY] = 1;
        e.dirtyList.push(p);
        if (e.dirtyList.length === 1) this.#dirty.push(e);
      }
    }
    if (present) addRun(dev, cellNum, bi, this.#minBi);
  }

  /** Drops buckets ending at or before `limitMs` (they can no longer change); flushes them first. */
  evict(limitMs: number, bucketMs: number): void {
    this.#sync();
    for (const [b, e] of this.#buckets) {
      if (b + bucketMs > limitMs) continue;
      this.#flush(e);
      this.#buckets.delete(b);
      if (this.#last === e) this.#last = undefined;
    }
    const minBi = Math.floor(limitMs / bucketMs) - 1;
    if (minBi > this.#minBi) this.#minBi = minBi;
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
    const p = this.#places.numOf(placeId);
    const e = this.#buckets.get(bucketStartMs);
    return p === undefined || e === undefined ? undefined : e.count(p);
  }

  /** Each place with devices in a held bucket, with its current distinct count (live-place-edge.ts). */
  forEachPlaceOf(bucketStartMs: number, fn: (def: PlaceDef, devices: number) => void): void {
    this.#sync();
    const e = this.#buckets.get(bucketStartMs);
    if (e === undefined) return;
    const n = this.#places.count;
    for (let p = 0; p < n; p++) {
      const d = e.count(p);
      if (d <= 0) continue;
      const def = e.defOf(p, this.#places);
      if (def !== undefined) fn(def, d);
    }
  }

  /** (place, bucket) entries held with devices or an emitted value. */
  get size(): number {
    let n = 0;
    const places = this.#places.count;
    for (const e of this.#buckets.values()) {
      for (let p = 0; p < places; p++) if (e.count(p) > 0 || (e.v[p * STRIDE + EMITTED] as number) > 0) n++;
    }
    return n;
  }

  #bucket(b: number): BucketCounts {
    let e = this.#buckets.get(b);
    if (e === undefined) {
      e = new BucketCounts(b, this.#places.capacity);
      this.#buckets.set(b, e);
    }
    return e;
  }

  #grow(capacity: number): void {
    for (const e of this.#buckets.values()) e.grow(capacity);
  }

  #flush(e: BucketCounts): void {
    const list = e.dirtyList;
    const v = e.v;
    for (let k = 0; k < list.length; k++) {
      const p = list[k] as number;
      const i = p * STRIDE;
      if (v[i + DIRTY] === 0) continue; // cleared by a definition change
      v[i + DIRTY] = 0;
      const d = v[i] as number;
      if (d === v[i + EMITTED]) continue;
      const def = e.defOf(p, this.#places);
      if (def === undefined) continue;
      v[i + EMITTED] = d;
      this.#pending.push({
        placeId: def.id,
        region: def.region,
        bucketStartMs: e.bucketStartMs,
        devices: d,
        version: def.version,
      });
    }
    list.length = 0;
  }

  /** Applies definition changes made since the last pull. */
  #sync(): void {
    const seq = this.#index.seq;
    if (seq === this.#seq) return;
    const changed = this.#index.changesSince(this.#seq);
    this.#seq = seq;
    const ids = changed ?? this.#places.allIds();
    const table = this.#places;
    const buckets = this.#buckets;
    // 1. Each changed place's held buckets: frozen before its new effective time, cleared after it (or
    //    everywhere if deleted). Done before the table learns the new definitions (frozen buckets keep
    //    the old one).
    for (const id of ids) {
      const p = table.numOf(id);
      const old = p === undefined ? undefined : table.def(p);
      if (p === undefined || old === undefined) continue;
      const def = this.#index.get(id);
      for (const e of buckets.values()) {
        const frozen = def !== undefined && e.bucketStartMs < def.effectiveFromMs;
        if (frozen) {
          const i = p * STRIDE;
          if (e.frozen?.has(p) || (e.v[i] === 0 && e.v[i + EMITTED] === 0 && e.v[i + DIRTY] === 0)) continue;
          e.frozen ??= new Map();
          e.frozen.set(p, old);
          continue;
        }
        e.frozen?.delete(p);
        const i = p * STRIDE;
        e.v[i] = 0;
        e.v[i + DIRTY] = 0;
        if (def === undefined) e.v[i + EMITTED] = 0;
      }
    }
    // 2. The table: new definitions, cells' place lists; cells that gained or lost every place.
    const { tracked, untracked } = table.apply(ids, (c) => this.#source.cellNumber(c));
    if (untracked.size > 0 || tracked.size > 0) this.#resyncRuns(tracked, untracked);
    // 3. Rebuild the open buckets at or after the effective time of each changed place.
    for (const id of ids) {
      const p = table.numOf(id);
      const def = this.#index.get(id);
      if (p === undefined || def === undefined) continue;
      for (const b of this.#source.openBucketStarts()) {
        if (b < def.effectiveFromMs) continue;
        const devs = new Set<number>();
        for (const c of def.cells)
          for (const num of this.#source.presentIn(c, b)?.keys() ?? []) devs.add(num);
        const e = buckets.get(b) ?? (devs.size > 0 ? this.#bucket(b) : undefined);
        if (e === undefined) continue;
        e.v[p * STRIDE] = devs.size;
        e.mark(p);
        if (e.dirtyList.length === 1) this.#dirty.push(e);
      }
    }
  }

  /** Presence runs of cells that became place cells (from the open sets) or stopped being ones. */
  #resyncRuns(tracked: ReadonlySet<number>, untracked: ReadonlySet<number>): void {
    const byNum = new Map<number, DeviceState>();
    this.#source.forEachDevice((dev) => {
      if (untracked.size > 0 && dev.placeRuns.length > 0) removeCells(dev, untracked);
      if (tracked.size > 0) byNum.set(dev.num, dev);
    });
    if (tracked.size === 0) return;
    const bms = this.#bucketMs;
    for (const b of this.#source.openBucketStarts()) {
      for (const c of tracked) {
        for (const num of this.#source.presentIn(this.#source.cellName(c), b)?.keys() ?? []) {
          const dev = byNum.get(num);
          if (dev !== undefined) addRun(dev, c, b / bms, this.#minBi);
        }
      }
    }
  }
}

/** True if a run of another cell covering bucket `bi` is a cell of place `p`. */
function inOtherCell(
  runs: readonly number[],
  cellNum: number,
  bi: number,
  p: number,
  table: PlaceTable,
): boolean {
  for (let i = 0; i < runs.length; i += RUN_STRIDE) {
    const c = runs[i] as number;
    if (c === cellNum || (runs[i + 1] as number) > bi || (runs[i + 2] as number) < bi) continue;
    const ps = table.placesOfCell(c);
    for (let k = 0; k < ps.length; k += 2) if (ps[k] === p) return true;
  }
  return false;
}
