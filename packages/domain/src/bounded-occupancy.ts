// The aggregator's side of contribution bounding (dp mode): keeps each CellBucket's `bounded` count
// equal to boundedCounts() over the held state. Rule 1 couples the buckets of one visit window (hour)
// and rule 2 the cells of one bucket, so a change anywhere in a window recomputes that whole window.
// Cost: O(held presence of the touched windows) per drain, paid only in dp mode.

import {
  type BoundingOptions,
  type BucketPresence,
  boundedCounts,
  type EarlierStays,
} from './contribution-bounding.ts';
import type { CellBucket } from './occupancy.ts';

/** Records (delta +1/−1) one presence segment of `device` from the stay started at `stayStartMs`. */
export function addStay(e: CellBucket, device: number, stayStartMs: number, delta: 1 | -1): void {
  e.stays ??= new Map();
  let starts = e.stays.get(device);
  if (!starts) {
    if (delta < 0) return;
    starts = new Map();
    e.stays.set(device, starts);
  }
  const c = (starts.get(stayStartMs) ?? 0) + delta;
  if (c > 0) starts.set(stayStartMs, c);
  else {
    starts.delete(stayStartMs);
    if (starts.size === 0) e.stays.delete(device);
  }
}

/**
 * Recomputes `bounded` for every held bucket in the windows of `dirty`; returns the cell buckets whose
 * bounded count changed and that are not already in `dirty` (the caller flushes them too).
 */
export function rebound(
  buckets: ReadonlyMap<number, ReadonlyMap<number, CellBucket>>,
  dirty: readonly CellBucket[],
  bucketMs: number,
  o: BoundingOptions,
  earlier: EarlierStays,
): CellBucket[] {
  const w = o.visitWindowMs;
  const windows = new Set<number>();
  for (const e of dirty) windows.add(Math.floor(e.bucketStartMs / w) * w);
  const changed: CellBucket[] = [];
  for (const start of windows) {
    const held: CellBucket[] = [];
    const presences: BucketPresence[] = [];
    // Buckets of the window (a bucket longer than the window still lands in exactly one window).
    for (let b = Math.floor(start / bucketMs) * bucketMs; b < start + w; b += bucketMs) {
      if (Math.floor(b / w) * w !== start) continue;
      const cells = buckets.get(b);
      if (!cells) continue;
      for (const e of cells.values()) {
        held.push(e);
        for (const [device, starts] of e.stays ?? []) {
          presences.push({ cell: e.cell, bucketStartMs: b, device, stayStarts: [...starts.keys()] });
        }
      }
    }
    const counts = boundedCounts(presences, o, earlier);
    for (const e of held) {
      const n = counts.get(e.bucketStartMs)?.get(e.cell) ?? 0;
      if (n === e.bounded) continue;
      e.bounded = n;
      if (!e.dirty) changed.push(e);
    }
  }
  return changed;
}

/**
 * Called for each bucket as it is evicted: remembers each (device, cell)'s first stay start of the
 * bucket's window, and forgets windows that end at or before `limitMs` (none of their buckets is held).
 */
export function rememberEvicted(
  earlier: EarlierStays,
  e: CellBucket,
  o: BoundingOptions,
  limitMs: number,
): void {
  const window = Math.floor(e.bucketStartMs / o.visitWindowMs);
  let m = earlier.get(window);
  if (!m) {
    m = new Map();
    earlier.set(window, m);
  }
  for (const [device, starts] of e.stays ?? []) {
    const key = `${device}|${e.cell}`;
    let first = m.get(key) ?? Number.POSITIVE_INFINITY;
    for (const s of starts.keys()) if (s < first) first = s;
    m.set(key, first);
  }
  for (const w of earlier.keys()) if ((w + 1) * o.visitWindowMs <= limitMs) earlier.delete(w);
}
