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

// The key of a place's provisional record: "liveplace:<placeId>:<bucketStartMs>" (docs/places.md).
export interface LivePlaceOccupancyKey {
  placeId: string;
  bucketStartMs: number;
}

const LIVE_PLACE = 'liveplace:';

export function livePlaceOccupancyKey(k: LivePlaceOccupancyKey): string {
  return `${LIVE_PLACE}${k.placeId}:${k.bucketStartMs}`;
}

export function isLivePlaceOccupancyKey(key: string): boolean {
  return key.startsWith(LIVE_PLACE);
}

/** Parses a key written by {@link livePlaceOccupancyKey}; undefined for anything else. */
export function parseLivePlaceOccupancyKey(key: string): LivePlaceOccupancyKey | undefined {
  if (!key.startsWith(LIVE_PLACE)) return undefined;
  const rest = key.slice(LIVE_PLACE.length);
  const i = rest.lastIndexOf(':');
  const placeId = rest.slice(0, i);
  const b = rest.slice(i + 1);
  if (i <= 0 || !/^\d+$/.test(b)) return undefined;
  const bucketStartMs = Number(b);
  return Number.isSafeInteger(bucketStartMs) ? { placeId, bucketStartMs } : undefined;
}
