// Stay derivation over a device's window (docs/insights.md): each ping continues the stay of the
// previous one if it is within the presence gap and within the jitter ring of the stay's anchor cell,
// else it starts a new stay. An out-of-order ping re-derives the tail of the window after it, undoing
// and redoing the tail's occupancy contributions.

import type { CellTable } from './cell-table.ts';
import {
  anchorAt,
  cellCount,
  cellOf,
  countOf,
  type DeviceState,
  F_CELL_COUNT,
  F_ID,
  F_T,
  NO_CELL,
  WINDOW_STRIDE,
} from './device-state.ts';
import type { OccupancyStore } from './occupancy-store.ts';
import { type IdKey, keyAfter, storeKey } from './ping-id-key.ts';
import type { VisitChanges } from './visit-changes.ts';

const S = WINDOW_STRIDE;

export class Stays {
  readonly #cells: CellTable;
  readonly #occupancy: OccupancyStore;
  readonly #visits: VisitChanges;
  readonly #gapMs: number;

  constructor(cells: CellTable, occupancy: OccupancyStore, visits: VisitChanges, gapMs: number) {
    this.#cells = cells;
    this.#occupancy = occupancy;
    this.#visits = visits;
    this.#gapMs = gapMs;
  }

  /** Inserts an accepted ping (event time `t`, id key, cell number) into the device's window. */
  insert(dev: DeviceState, t: number, key: IdKey, cell: number): void {
    const w = dev.w;
    const n = dev.size;
    const lastT = n > 0 ? (w[(n - 1) * S + F_T] as number) : Number.NEGATIVE_INFINITY;
    const cc = cellCount(cell, 1);
    // Pings with equal event times are ordered by ping id (string order).
    if (n === 0 || t > lastT || (t === lastT && keyAfter(dev, key, w, (n - 1) * S + F_ID))) {
      w.push(t, cc, 0, 0, 0);
      storeKey(dev, key, w, n * S + F_ID);
      this.#derive(dev, n);
      this.#occupancy.contribute(dev, n, 1);
      this.#visits.mark(dev, n, false);
      return;
    }
    // Out of order: find the position, undo the tail's contributions, re-derive the tail.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const mt = w[mid * S + F_T] as number;
      if (t > mt || (t === mt && keyAfter(dev, key, w, mid * S + F_ID))) lo = mid + 1;
      else hi = mid;
    }
    for (let j = lo; j < n; j++) this.#occupancy.contribute(dev, j, -1);
    w.splice(lo * S, 0, t, cc, 0, 0, 0);
    storeKey(dev, key, w, lo * S + F_ID);
    for (let j = lo; j <= n; j++) {
      this.#derive(dev, j);
      this.#occupancy.contribute(dev, j, 1);
    }
    this.#visits.mark(dev, lo, true);
  }

  /** Derives the stay count of window ping j from ping j-1 (or the base); anchor and start follow. */
  #derive(dev: DeviceState, j: number): void {
    const w = dev.w;
    const o = j * S;
    let anchor: number;
    let lastT: number;
    let count: number;
    if (j > 0) {
      anchor = anchorAt(dev, j - 1);
      lastT = w[o - S + F_T] as number;
      count = countOf(w[o - S + F_CELL_COUNT] as number);
    } else {
      anchor = dev.bAnchor;
      lastT = dev.bLastT;
      count = dev.bPings;
    }
    const t = w[o + F_T] as number;
    const cell = cellOf(w[o + F_CELL_COUNT] as number);
    const continues = anchor !== NO_CELL && t - lastT <= this.#gapMs && this.#cells.near(anchor, cell);
    w[o + F_CELL_COUNT] = cellCount(cell, continues ? count + 1 : 1);
  }
}
