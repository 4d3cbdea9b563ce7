// Occupancy per (cell, bucket) of one partition: the presence contributions of window pings, the
// changed-value emission of occupancy records, dp-mode bounding and bucket eviction.

import type { OccupancyUpdate } from './aggregator-types.ts';
import { addStay, rebound, rememberEvicted } from './bounded-occupancy.ts';
import type { CellTable } from './cell-table.ts';
import type { BoundingOptions, EarlierStays } from './contribution-bounding.ts';
import {
  anchorAt,
  countOf,
  type DeviceState,
  F_CELL_COUNT,
  F_T,
  startAt,
  WINDOW_STRIDE,
} from './device-state.ts';
import { CellBucket } from './occupancy.ts';
import type { PresenceObserver } from './place-occupancy.ts';

export class OccupancyStore {
  /** bucket start → cell number → state. */
  readonly buckets = new Map<number, Map<number, CellBucket>>();
  /** Named places (docs/places.md): told of every device entering or leaving a (cell, bucket). */
  places: PresenceObserver | undefined;
  readonly #cells: CellTable;
  readonly #bucketMs: number;
  readonly #bounds: BoundingOptions | undefined;
  /** dp mode: first stays of evicted buckets, for the one-visit-per-hour rule (bounded-occupancy.ts). */
  readonly #earlier: EarlierStays = new Map();
  readonly #dirty: CellBucket[] = [];
  #pending: OccupancyUpdate[] = [];

  constructor(cells: CellTable, bucketMs: number, bounds: BoundingOptions | undefined) {
    this.#cells = cells;
    this.#bucketMs = bucketMs;
    this.#bounds = bounds;
  }

  /** The (cell, bucket) state if held. */
  get(cell: string, bucketStartMs: number): CellBucket | undefined {
    const n = this.#cells.lookup(cell);
    return n === undefined ? undefined : this.buckets.get(bucketStartMs)?.get(n);
  }

  /**
   * Adds (delta 1) or removes (delta -1) the contribution of window ping j: presence of the device in its
   * attributed cell over [previous ping, this ping] if it continues a stay, else at this ping only; and
   * one ping in the bucket of its time.
   */
  contribute(dev: DeviceState, j: number, delta: 1 | -1): void {
    const w = dev.w;
    const o = j * WINDOW_STRIDE;
    const cellNum = anchorAt(dev, j);
    const t = w[o + F_T] as number;
    const from =
      countOf(w[o + F_CELL_COUNT] as number) > 1
        ? j > 0
          ? (w[o - WINDOW_STRIDE + F_T] as number)
          : dev.bLastT
        : t;
    const bms = this.#bucketMs;
    const last = Math.floor(t / bms) * bms;
    const num = dev.num;
    const places = this.places;
    // One check per segment: a cell without places costs nothing more per bucket.
    const watch = places !== undefined && (places.observes === undefined || places.observes(cellNum));
    for (let b = Math.floor(from / bms) * bms; b <= last; b += bms) {
      let m = this.buckets.get(b);
      if (m === undefined) {
        if (delta < 0) continue;
        m = new Map();
        this.buckets.set(b, m);
      }
      let e = m.get(cellNum);
      if (e === undefined) {
        if (delta < 0) continue;
        e = new CellBucket(this.#cells.cell(cellNum), this.#cells.region(cellNum), b);
        m.set(cellNum, e);
      }
      const prev = e.addSegments(num, delta);
      if (watch && prev > 0 !== prev + delta > 0) {
        (places as PresenceObserver).presence(e.cell, b, num, delta > 0, cellNum, dev);
      }
      if (b === last) e.pings += delta;
      if (this.#bounds) addStay(e, num, startAt(dev, j), delta);
      if (!e.dirty) {
        e.dirty = true;
        this.#dirty.push(e);
      }
    }
  }

  /** Moves every dirty cell bucket's changed value into the pending updates. */
  collect(): void {
    this.#rebound();
    for (const e of this.#dirty) this.#flush(e);
    this.#dirty.length = 0;
  }

  /** The pending occupancy updates, emptied. */
  drain(): OccupancyUpdate[] {
    const out = this.#pending;
    this.#pending = [];
    return out;
  }

  /** Flushes and drops buckets ending at or before `limitMs`. */
  evictBefore(limitMs: number): void {
    const bounds = this.#bounds;
    this.#rebound();
    for (const [b, cells] of this.buckets) {
      if (b + this.#bucketMs > limitMs) continue;
      for (const e of cells.values()) {
        this.#flush(e);
        if (bounds) rememberEvicted(this.#earlier, e, bounds, limitMs);
      }
      this.buckets.delete(b);
    }
  }

  /** dp mode: brings `bounded` up to date for the windows of dirty cells; marks other changed cells dirty. */
  #rebound(): void {
    const bounds = this.#bounds;
    if (!bounds || this.#dirty.length === 0) return;
    for (const e of rebound(this.buckets, this.#dirty, this.#bucketMs, bounds, this.#earlier)) {
      e.dirty = true;
      this.#dirty.push(e);
    }
  }

  #flush(e: CellBucket): void {
    if (!e.dirty) return;
    e.dirty = false;
    const d = this.#bounds ? e.bounded : e.devices;
    if (d !== e.emittedDevices || e.pings !== e.emittedPings) {
      this.#pending.push({
        cell: e.cell,
        region: e.region,
        bucketStartMs: e.bucketStartMs,
        devices: d,
        pings: e.pings,
      });
      e.emittedDevices = d;
      e.emittedPings = e.pings;
    }
  }
}
