// Change tracking of visits: which devices' stays changed since the last drain, and the visit records
// (open, closed, retracted) those changes produce. Only values that changed are emitted.

import type { VisitUpdate } from './aggregator-types.ts';
import type { CellTable } from './cell-table.ts';
import {
  anchorAt,
  countAt,
  type DeviceState,
  type EmittedVisit,
  F_T,
  NO_CELL,
  NONE,
  startAt,
  WINDOW_STRIDE,
} from './device-state.ts';

export class VisitChanges {
  readonly #cells: CellTable;
  readonly #minVisitMs: number;
  readonly #dirty: DeviceState[] = [];
  #pending: VisitUpdate[] = [];
  #pass = 0;

  constructor(cells: CellTable, minVisitMs: number) {
    this.#cells = cells;
    this.#minVisitMs = minVisitMs;
  }

  /** Window ping `index` of `dev` was (re)derived; `rederived`: an out-of-order insert re-derived a tail. */
  mark(dev: DeviceState, index: number, rederived: boolean): void {
    if (dev.dirtyFrom === Number.POSITIVE_INFINITY) this.#dirty.push(dev);
    if (index < dev.dirtyFrom) dev.dirtyFrom = index;
    if (rederived) dev.rederived = true;
  }

  /** Moves every dirty device's visit changes into the pending updates. */
  collect(): void {
    for (const dev of this.#dirty) this.flush(dev);
    this.#dirty.length = 0;
  }

  /** The pending visit updates, emptied. */
  drain(): VisitUpdate[] {
    const out = this.#pending;
    this.#pending = [];
    return out;
  }

  /** Queues the visit changes of a dirty device (no-op if clean). */
  flush(dev: DeviceState): void {
    if (dev.dirtyFrom === Number.POSITIVE_INFINITY && !dev.rederived) return;
    const w = dev.w;
    const n = dev.size;
    const full = dev.rederived;
    const lo = full ? 0 : Math.max(0, dev.dirtyFrom - 1);
    const seen = full ? ++this.#pass : 0;
    if (lo === 0 && dev.bAnchor !== NO_CELL && (n === 0 || countAt(dev, 0) === 1)) {
      this.#emitStay(dev, dev.bAnchor, dev.bStart, dev.bLastT, dev.bPings, seen);
    }
    for (let j = lo; j < n; j++) {
      if (j === n - 1 || countAt(dev, j + 1) === 1) {
        this.#emitStay(
          dev,
          anchorAt(dev, j),
          startAt(dev, j),
          w[j * WINDOW_STRIDE + F_T] as number,
          countAt(dev, j),
          seen,
        );
      }
    }
    if (full && dev.emitted.length > 0) {
      const kept: EmittedVisit[] = [];
      for (const v of dev.emitted) {
        if (v.seen === seen) kept.push(v);
        else this.#push(dev, v.cell, v.startMs, v.endMs, v.pings, false, true);
      }
      dev.emitted = kept.length > 0 ? kept : NONE;
    }
    dev.dirtyFrom = Number.POSITIVE_INFINITY;
    dev.rederived = false;
  }

  /** A stay that can no longer change: emit it closed (if reported) and forget it. */
  finalizeStay(dev: DeviceState, cell: number, startMs: number, endMs: number, pings: number): void {
    const emitted = dev.emitted;
    const i = indexOf(emitted, cell, startMs);
    const prev = emitted[i];
    if (prev !== undefined) emitted.splice(i, 1);
    if (endMs - startMs >= this.#minVisitMs) this.#push(dev, cell, startMs, endMs, pings, true, false);
    else if (prev !== undefined) this.#push(dev, cell, startMs, prev.endMs, prev.pings, false, true);
  }

  #emitStay(
    dev: DeviceState,
    cell: number,
    startMs: number,
    endMs: number,
    pings: number,
    seen: number,
  ): void {
    const emitted = dev.emitted;
    const long = endMs - startMs >= this.#minVisitMs;
    if (!long && emitted.length === 0) return;
    const i = indexOf(emitted, cell, startMs);
    const prev = emitted[i];
    if (prev !== undefined) prev.seen = seen;
    if (long) {
      if (prev === undefined) {
        if (emitted === NONE) dev.emitted = [{ cell, startMs, endMs, pings, seen }];
        else emitted.push({ cell, startMs, endMs, pings, seen });
      } else if (prev.endMs !== endMs || prev.pings !== pings) {
        prev.endMs = endMs;
        prev.pings = pings;
      } else {
        return;
      }
      this.#push(dev, cell, startMs, endMs, pings, false, false);
    } else if (prev !== undefined) {
      emitted.splice(i, 1);
      this.#push(dev, cell, startMs, prev.endMs, prev.pings, false, true);
    }
  }

  #push(
    dev: DeviceState,
    cell: number,
    startMs: number,
    endMs: number,
    pings: number,
    closed: boolean,
    retracted: boolean,
  ): void {
    this.#pending.push({
      deviceId: dev.id,
      cell: this.#cells.cell(cell),
      region: this.#cells.region(cell),
      startMs,
      endMs,
      pings,
      closed,
      retracted,
    });
  }
}

/** Index of the emitted visit (cell, startMs), or emitted.length. */
function indexOf(emitted: readonly EmittedVisit[], cell: number, startMs: number): number {
  let i = 0;
  while (i < emitted.length) {
    const v = emitted[i] as EmittedVisit;
    if (v.startMs === startMs && v.cell === cell) break;
    i++;
  }
  return i;
}
