// Eviction of one device's state as the watermark advances: window pings older than the watermark are
// folded into the base stay, stays that can no longer change are closed, inaccurate pings leave the
// dedup window, and an idle device is forgotten once its last presence's buckets are gone.

import {
  anchorAt,
  countAt,
  type DeviceState,
  F_ID,
  F_T,
  INACC_STRIDE,
  NO_CELL,
  NONE,
  startAt,
  WINDOW_STRIDE,
} from './device-state.ts';
import { releaseKey } from './ping-id-key.ts';
import type { VisitChanges } from './visit-changes.ts';

const S = WINDOW_STRIDE;

/**
 * Folds window pings older than `wm` into the base state and closes stays that can no longer change.
 * Returns true if the device holds nothing any more and may be forgotten.
 */
export function foldDevice(
  dev: DeviceState,
  wm: number,
  gapMs: number,
  bucketMs: number,
  visits: VisitChanges,
): boolean {
  const w = dev.w;
  const n = dev.size;
  let k = 0;
  while (k < n && (w[k * S + F_T] as number) < wm) k++;
  // Folding splices the window (O(n)): do it when the whole window or a quarter of it is folded, so the
  // cost per ping stays O(1). Pings below the watermark left in the window are harmless (no ping can be
  // inserted before them); only the closing of their stays is deferred.
  if (k < n && k * 4 < n) k = 0;
  // After folding, the base stay closes if no acceptable ping can continue it: its last ping is more than
  // a gap before the watermark and no (deferred) window ping below the watermark follows it.
  const baseAnchor = k > 0 ? anchorAt(dev, k - 1) : dev.bAnchor;
  const baseLastT = k > 0 ? (w[(k - 1) * S + F_T] as number) : dev.bLastT;
  const closeBase =
    baseAnchor !== NO_CELL && wm - baseLastT > gapMs && (k === n || (w[k * S + F_T] as number) >= wm);
  if (k > 0 || closeBase) visits.flush(dev);
  if (k > 0) {
    for (let j = 0; j < k; j++) {
      if (countAt(dev, j) !== 1) continue;
      // Ping j starts a new stay: the previous one (base or ending at j-1) is final.
      if (j === 0) {
        if (dev.bAnchor !== NO_CELL)
          visits.finalizeStay(dev, dev.bAnchor, dev.bStart, dev.bLastT, dev.bPings);
      } else {
        visits.finalizeStay(
          dev,
          anchorAt(dev, j - 1),
          startAt(dev, j - 1),
          w[(j - 1) * S + F_T] as number,
          countAt(dev, j - 1),
        );
      }
    }
    // Read before assigning: the derived anchor and start may come from the old base.
    const bAnchor = anchorAt(dev, k - 1);
    const bStart = startAt(dev, k - 1);
    const bPings = countAt(dev, k - 1);
    dev.bAnchor = bAnchor;
    dev.bStart = bStart;
    dev.bLastT = w[(k - 1) * S + F_T] as number;
    dev.bPings = bPings;
    if (dev.longIds !== null) for (let j = 0; j < k; j++) releaseKey(dev, w, j * S + F_ID);
    w.splice(0, k * S);
  }
  if (closeBase && dev.bAnchor !== NO_CELL) {
    visits.finalizeStay(dev, dev.bAnchor, dev.bStart, dev.bLastT, dev.bPings);
    dev.bAnchor = NO_CELL;
  }
  let inacc = dev.inacc;
  if (inacc.length > 0) {
    for (let j = inacc.length - INACC_STRIDE; j >= 0; j -= INACC_STRIDE) {
      if ((inacc[j] as number) < wm) {
        releaseKey(dev, inacc, j + 1);
        inacc.splice(j, INACC_STRIDE);
      }
    }
    if (inacc.length === 0) {
      inacc = NONE;
      dev.inacc = inacc;
    }
  }
  // Forget an idle device only once the buckets of its last presence are evicted too, so that a device
  // that comes back (with a new number) can never be counted twice in one bucket.
  return (
    w.length === 0 &&
    dev.bAnchor === NO_CELL &&
    inacc.length === 0 &&
    dev.emitted.length === 0 &&
    Math.floor(dev.bLastT / bucketMs) * bucketMs + bucketMs <= wm - gapMs
  );
}
