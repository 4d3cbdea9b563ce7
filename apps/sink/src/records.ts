import { type AggregatedKey, AggregateRecord, parseAggregatedKey, type VisitKey } from '@footfall/contracts';
import { cellToLatLng } from 'h3-js';
import {
  type LiveOccupancyRow,
  type LivePlaceOccupancyRow,
  parseLivePlaceRecord,
  parseLiveRecord,
} from './live-records.ts';

/** One occupancy row as written (times in ms since the epoch). */
export interface OccupancyRow {
  cell: string;
  bucketStartMs: number;
  bucketMs: number;
  region: string;
  /** Cell centre (degrees), stored for bounding-box filters. */
  lat: number;
  lon: number;
  devices: number;
  pings: number;
}

/** One visit row as written. */
export interface VisitRow {
  deviceId: string;
  cell: string;
  startMs: number;
  endMs: number;
  region: string;
  pings: number;
  closed: boolean;
}

/** One place occupancy row as written (docs/places.md). */
export interface PlaceOccupancyRow {
  placeId: string;
  bucketStartMs: number;
  bucketMs: number;
  devices: number;
  version: number;
}

/** Identity of a visit, from its Kafka key (a tombstone has no value to read it from). */
export type { VisitKey };

/** What one batch of `aggregated` records does to the database, latest value per key. */
export interface BatchPlan {
  occupancy: OccupancyRow[];
  visits: VisitRow[];
  /** Visits withdrawn by a tombstone (after any earlier value in the same batch). */
  deletes: VisitKey[];
  /** Provisional live-edge rows (`live:` keys), latest per key. */
  live: LiveOccupancyRow[];
  /** Provisional place rows (`liveplace:` keys), latest per key (absent: none). */
  livePlaces?: LivePlaceOccupancyRow[];
  /** Named places' counts (absent in plans built before places existed: treat as empty). */
  places?: PlaceOccupancyRow[];
  invalid: number;
  tombstones: number;
}

export type ParsedKey = AggregatedKey;
/** The `aggregated` key format has one home, @footfall/contracts (the processor writes it). */
export const parseKey = parseAggregatedKey;

export interface RawRecord {
  key: Buffer | string | undefined | null;
  value: Buffer | undefined | null;
}

/**
 * Folds a batch of records (in offset order per partition) into the rows to write: a later record of a
 * key replaces an earlier one ("latest value per key is the truth"), a tombstone turns its key into a
 * delete. Keys never span partitions (a key's region fixes its partition), so per-batch order suffices.
 */
export function planBatch(records: readonly RawRecord[]): BatchPlan {
  const occ = new Map<string, OccupancyRow>();
  const visits = new Map<string, VisitRow | VisitKey>();
  const live = new Map<string, LiveOccupancyRow>();
  const places = new Map<string, PlaceOccupancyRow>();
  const livePlaces = new Map<string, LivePlaceOccupancyRow>();
  let invalid = 0;
  let tombstones = 0;
  for (const record of records) {
    const keyText = record.key == null ? '' : record.key.toString();
    if (keyText.startsWith('live:')) {
      const row = parseLiveRecord(keyText, record.value);
      if (row === undefined) invalid++;
      else live.set(keyText, row);
      continue;
    }
    if (keyText.startsWith('liveplace:')) {
      const row = parseLivePlaceRecord(keyText, record.value);
      if (row === undefined) invalid++;
      else livePlaces.set(keyText, row);
      continue;
    }
    const key = parseKey(keyText);
    if (!key) {
      invalid++;
      continue;
    }
    if (record.value == null || record.value.length === 0) {
      // Tombstone. Only visits are ever withdrawn; an occupancy tombstone would mean nothing here.
      if (key.kind === 'visit') {
        tombstones++;
        visits.set(keyText, { deviceId: key.deviceId, cell: key.cell, startMs: key.startMs });
      } else invalid++;
      continue;
    }
    let decoded: AggregateRecord;
    try {
      decoded = AggregateRecord.decode(record.value);
    } catch {
      invalid++;
      continue;
    }
    if (key.kind === 'occ' && decoded.occupancy) {
      const o = decoded.occupancy;
      let centre: [number, number];
      try {
        centre = cellToLatLng(key.cell) as [number, number];
      } catch {
        invalid++;
        continue;
      }
      occ.set(keyText, {
        // Identity always from the key, so a later tombstone/update of that key hits this row.
        cell: key.cell,
        bucketStartMs: key.bucketStartMs,
        bucketMs: o.bucketMs,
        region: decoded.region,
        lat: centre[0],
        lon: centre[1],
        devices: o.devices,
        pings: o.pings,
      });
    } else if (key.kind === 'visit' && decoded.visit) {
      const x = decoded.visit;
      if (x.endMs < key.startMs) {
        invalid++;
        continue;
      }
      visits.set(keyText, {
        deviceId: key.deviceId,
        cell: key.cell,
        startMs: key.startMs,
        endMs: x.endMs,
        region: decoded.region,
        pings: x.pings,
        closed: x.closed,
      });
    } else if (key.kind === 'place' && decoded.placeOccupancy) {
      const p = decoded.placeOccupancy;
      places.set(keyText, {
        placeId: key.placeId,
        bucketStartMs: key.bucketStartMs,
        bucketMs: p.bucketMs,
        devices: p.devices,
        version: p.version,
      });
    } else invalid++;
  }
  const plan: BatchPlan = {
    occupancy: [...occ.values()],
    visits: [],
    deletes: [],
    live: [...live.values()],
    invalid,
    tombstones,
  };
  if (places.size > 0) plan.places = [...places.values()];
  if (livePlaces.size > 0) plan.livePlaces = [...livePlaces.values()];
  for (const v of visits.values()) {
    if ('endMs' in v) plan.visits.push(v);
    else plan.deletes.push(v);
  }
  return plan;
}
