// The key of a provisional (live-edge) occupancy record on `aggregated`: "live:<cell>:<bucketStartMs>".
// A separate kind from "occ:" so that the provisional value never overwrites the final count.

export interface LiveOccupancyKey {
  cell: string;
  bucketStartMs: number;
}

const LIVE = 'live:';

export function liveOccupancyKey(k: LiveOccupancyKey): string {
  return `${LIVE}${k.cell}:${k.bucketStartMs}`;
}

/** Whether a key is a live-edge key (it may still be malformed: see {@link parseLiveOccupancyKey}). */
export function isLiveOccupancyKey(key: string): boolean {
  return key.startsWith(LIVE);
}

/** Parses a key written by {@link liveOccupancyKey}; undefined for anything else. */
export function parseLiveOccupancyKey(key: string): LiveOccupancyKey | undefined {
  if (!key.startsWith(LIVE)) return undefined;
  const parts = key.split(':');
  if (parts.length !== 3 || !parts[1] || !/^\d+$/.test(parts[2] as string)) return undefined;
  const bucketStartMs = Number(parts[2]);
  return Number.isSafeInteger(bucketStartMs) ? { cell: parts[1], bucketStartMs } : undefined;
}
