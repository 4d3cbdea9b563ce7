import { AggregateRecord, parseLiveOccupancyKey, parseLivePlaceOccupancyKey } from '@footfall/contracts';
import { cellToLatLng } from 'h3-js';

/** The values every provisional row carries, cell or place (times in ms since the epoch). */
interface LiveValues {
  bucketStartMs: number;
  bucketMs: number;
  region: string;
  observed: number;
  confirmed: number;
  estimate: number;
  lower: number;
  upper: number;
  completeness: number;
  finalAtMs: number;
  computedAtMs: number;
}

/**
 * Their bind order in the live upserts (live-writer.ts): after the row's own columns, so cells and
 * places share the list.
 */
export const LIVE_VALUE_COLUMNS: readonly (keyof LiveValues)[] = [
  'bucketStartMs',
  'bucketMs',
  'region',
  'observed',
  'confirmed',
  'estimate',
  'lower',
  'upper',
  'completeness',
  'finalAtMs',
  'computedAtMs',
];

type LiveValue = NonNullable<AggregateRecord['liveOccupancy'] | AggregateRecord['livePlaceOccupancy']>;

function liveValues(bucketStartMs: number, region: string, l: LiveValue): LiveValues {
  return {
    bucketStartMs,
    bucketMs: l.bucketMs,
    region,
    observed: l.observed,
    confirmed: l.confirmed,
    estimate: l.estimate,
    lower: l.lower,
    upper: l.upper,
    completeness: l.completeness,
    finalAtMs: l.finalAtMs,
    computedAtMs: l.computedAtMs,
  };
}

/** One provisional (live-edge) row as written; see migration 002. */
export interface LiveOccupancyRow extends LiveValues {
  cell: string;
  lat: number;
  lon: number;
}

/** A `live:` record → its row; undefined when the key or value is malformed (counted invalid). */
export function parseLiveRecord(
  keyText: string,
  value: Buffer | null | undefined,
): LiveOccupancyRow | undefined {
  const key = parseLiveOccupancyKey(keyText);
  if (key === undefined || value == null || value.length === 0) return undefined;
  let decoded: AggregateRecord;
  let centre: [number, number];
  try {
    decoded = AggregateRecord.decode(value);
    centre = cellToLatLng(key.cell) as [number, number];
  } catch {
    return undefined;
  }
  const l = decoded.liveOccupancy;
  if (l === undefined) return undefined;
  return {
    cell: key.cell,
    lat: centre[0],
    lon: centre[1],
    ...liveValues(key.bucketStartMs, decoded.region, l),
  };
}

/** One provisional (place, bucket) row as written; see migration 006. */
export interface LivePlaceOccupancyRow extends LiveValues {
  placeId: string;
  version: number;
}

/** A `liveplace:` record → its row; undefined when the key or value is malformed (counted invalid). */
export function parseLivePlaceRecord(
  keyText: string,
  value: Buffer | null | undefined,
): LivePlaceOccupancyRow | undefined {
  const key = parseLivePlaceOccupancyKey(keyText);
  if (key === undefined || value == null || value.length === 0) return undefined;
  let decoded: AggregateRecord;
  try {
    decoded = AggregateRecord.decode(value);
  } catch {
    return undefined;
  }
  const l = decoded.livePlaceOccupancy;
  if (l === undefined) return undefined;
  return { placeId: key.placeId, version: l.version, ...liveValues(key.bucketStartMs, decoded.region, l) };
}
