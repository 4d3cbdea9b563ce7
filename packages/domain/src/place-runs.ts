// A device's presence in place cells (docs/places.md, "Aggregation"), kept on its DeviceState as runs of
// consecutive buckets per cell: [cell number, first bucket index, last bucket index], usually one or
// two runs a device. The place tracker reads them to tell whether a device entering (or leaving) a
// (cell, bucket) is already (or still) present in another cell of the same place in that bucket, so a
// place count is a distinct count without a device set per (place, bucket).

import { type DeviceState, NONE } from './device-state.ts';

/** Fields per run in {@link DeviceState.placeRuns}. */
export const RUN_STRIDE = 3;

/**
 * Records that the device entered (cell, bucket index `bi`); it was not present there. Runs that ended
 * before `minBi` (evicted buckets) are dropped on the way.
 */
export function addRun(dev: DeviceState, cell: number, bi: number, minBi: number): void {
  let r = dev.placeRuns;
  if (r === NONE) {
    dev.placeRuns = [cell, bi, bi];
    return;
  }
  if (r.length >= 4 * RUN_STRIDE) r = dropBefore(dev, minBi);
  let below = -1; // run of `cell` ending at bi − 1
  let above = -1; // run of `cell` starting at bi + 1
  for (let i = 0; i < r.length; i += RUN_STRIDE) {
    if (r[i] !== cell) continue;
    if (r[i + 2] === bi - 1) below = i;
    else if (r[i + 1] === bi + 1) above = i;
  }
  if (below >= 0 && above >= 0) {
    r[below + 2] = r[above + 2] as number;
    removeAt(r, above);
  } else if (below >= 0) r[below + 2] = bi;
  else if (above >= 0) r[above + 1] = bi;
  else r.push(cell, bi, bi);
}

/** Records that the device left (cell, bucket index `bi`). */
export function removeRun(dev: DeviceState, cell: number, bi: number): void {
  const r = dev.placeRuns;
  for (let i = 0; i < r.length; i += RUN_STRIDE) {
    if (r[i] !== cell) continue;
    const from = r[i + 1] as number;
    const to = r[i + 2] as number;
    if (bi < from || bi > to) continue;
    if (from === to) {
      removeAt(r, i);
      if (r.length === 0) dev.placeRuns = NONE;
    } else if (bi === from) r[i + 1] = bi + 1;
    else if (bi === to) r[i + 2] = bi - 1;
    else {
      r[i + 2] = bi - 1;
      r.push(cell, bi + 1, to);
    }
    return;
  }
}

/** Removes every run of a cell in `cells` (cells that no longer belong to any place). */
export function removeCells(dev: DeviceState, cells: ReadonlySet<number>): void {
  const r = dev.placeRuns;
  for (let i = r.length - RUN_STRIDE; i >= 0; i -= RUN_STRIDE) if (cells.has(r[i] as number)) removeAt(r, i);
  if (r.length === 0) dev.placeRuns = NONE;
}

function dropBefore(dev: DeviceState, minBi: number): number[] {
  const r = dev.placeRuns;
  for (let i = r.length - RUN_STRIDE; i >= 0; i -= RUN_STRIDE)
    if ((r[i + 2] as number) < minBi) removeAt(r, i);
  return r;
}

/** Removes the run at field offset i (order of runs does not matter): the last run takes its place. */
function removeAt(r: number[], i: number): void {
  const last = r.length - RUN_STRIDE;
  if (i !== last) {
    r[i] = r[last] as number;
    r[i + 1] = r[last + 1] as number;
    r[i + 2] = r[last + 2] as number;
  }
  r.length = last;
}
