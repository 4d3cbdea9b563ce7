/** Default occupancy bucket length in ms. */
export const DEFAULT_BUCKET_MS = 60_000;

/** Start (ms) of the bucket `[b, b + bucketMs)` containing `tMs`: `floor(tMs / bucketMs) * bucketMs`. */
export function bucketStart(tMs: number, bucketMs: number): number {
  return Math.floor(tMs / bucketMs) * bucketMs;
}

/**
 * Starts (ms, ascending) of every bucket overlapping the CLOSED interval `[fromMs, toMs]`, i.e.
 * `bucketStart(fromMs) .. bucketStart(toMs)`. Empty if `toMs < fromMs`.
 */
export function bucketsOverlapping(fromMs: number, toMs: number, bucketMs: number): number[] {
  const out: number[] = [];
  if (toMs < fromMs) return out;
  const last = bucketStart(toMs, bucketMs);
  for (let b = bucketStart(fromMs, bucketMs); b <= last; b += bucketMs) out.push(b);
  return out;
}
