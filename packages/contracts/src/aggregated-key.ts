// The key of an `aggregated` record: the entity's identity, so that "latest value per key is the truth"
// and log compaction keep exactly one record per occupancy bucket and per visit. The processor writes
// these keys and the sink reads them back (a visit tombstone has no value, only this key), so the
// format lives here, once.
//
//   occ:<cell>:<bucketStartMs>
//   visit:<deviceId>:<cell>:<startMs>      (the device id is opaque and may itself contain ':')
//   place:<placeId>:<bucketStartMs>        (named places, docs/places.md; place ids never contain ':')

/** The identity of an occupancy bucket. */
export interface OccupancyKey {
  cell: string;
  bucketStartMs: number;
}

/** The identity of a visit. */
export interface VisitKey {
  deviceId: string;
  cell: string;
  startMs: number;
}

/** The identity of a place's occupancy bucket. */
export interface PlaceOccupancyKey {
  placeId: string;
  bucketStartMs: number;
}

export type AggregatedKey =
  | ({ kind: 'occ' } & OccupancyKey)
  | ({ kind: 'visit' } & VisitKey)
  | ({ kind: 'place' } & PlaceOccupancyKey);

const OCC = 'occ:';
const VISIT = 'visit:';
const PLACE = 'place:';

export function occupancyKey(k: OccupancyKey): string {
  return `${OCC}${k.cell}:${k.bucketStartMs}`;
}

export function visitKey(k: VisitKey): string {
  return `${VISIT}${k.deviceId}:${k.cell}:${k.startMs}`;
}

export function placeOccupancyKey(k: PlaceOccupancyKey): string {
  return `${PLACE}${k.placeId}:${k.bucketStartMs}`;
}

/** The key of `k`, whichever kind it is. */
export function formatAggregatedKey(k: AggregatedKey): string {
  if (k.kind === 'place') return placeOccupancyKey(k);
  return k.kind === 'occ' ? occupancyKey(k) : visitKey(k);
}

/** A decimal integer as written by `${number}` for a safe integer, nothing else ('', '1e3', ' 1' are not). */
function parseMs(text: string): number | undefined {
  if (!/^-?\d+$/.test(text)) return undefined;
  const ms = Number(text);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * Parses a key written by {@link occupancyKey} / {@link visitKey}; undefined for anything else. The visit
 * key is read from both ends, because the device id may contain ':' (cells and times never do).
 */
export function parseAggregatedKey(key: string): AggregatedKey | undefined {
  if (key.startsWith(OCC)) {
    const parts = key.split(':');
    if (parts.length !== 3 || !parts[1]) return undefined;
    const bucketStartMs = parseMs(parts[2] as string);
    return bucketStartMs === undefined ? undefined : { kind: 'occ', cell: parts[1], bucketStartMs };
  }
  if (key.startsWith(VISIT)) {
    const last = key.lastIndexOf(':');
    const mid = key.lastIndexOf(':', last - 1);
    if (mid <= VISIT.length) return undefined;
    const deviceId = key.slice(VISIT.length, mid);
    const cell = key.slice(mid + 1, last);
    const startMs = parseMs(key.slice(last + 1));
    if (!deviceId || !cell || startMs === undefined) return undefined;
    return { kind: 'visit', deviceId, cell, startMs };
  }
  if (key.startsWith(PLACE)) {
    const parts = key.split(':');
    if (parts.length !== 3 || !parts[1]) return undefined;
    const bucketStartMs = parseMs(parts[2] as string);
    return bucketStartMs === undefined ? undefined : { kind: 'place', placeId: parts[1], bucketStartMs };
  }
  return undefined;
}
