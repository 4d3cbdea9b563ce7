// Reads of the per-place aggregates (docs/places.md). Raw numbers: the routes apply K_ANONYMITY.

import type { Database } from '@footfall/db';
import type { PlaceVisit } from '@footfall/domain';
import { TS } from '../sql-time.ts';

const MS = (col: string) => `(extract(epoch FROM ${col}) * 1000)::float8`;

/** The place's cells and its count in one bucket (0 when no row); undefined if no such place. */
export async function placeOccupancyAt(
  db: Database,
  placeId: string,
  bucketStartMs: number,
): Promise<{ name: string; devices: number } | undefined> {
  const { rows } = await db.query<{ name: string; devices: number | null }>(
    `SELECT p.name, o.devices FROM places p
       LEFT JOIN place_occupancy o ON o.place_id = p.id AND o.bucket_start = ${TS('$2')}
      WHERE p.id = $1`,
    [placeId, bucketStartMs],
    { name: 'api_place_occupancy_at' },
  );
  const r = rows[0];
  return r === undefined ? undefined : { name: r.name, devices: r.devices ?? 0 };
}

/** Peak count per step over buckets starting in [fromMs, toMs): step index → peak. */
export async function placeOccupancySeries(
  db: Database,
  placeId: string,
  fromMs: number,
  toMs: number,
  stepMs: number,
): Promise<Map<number, number>> {
  const { rows } = await db.query<{ i: number; peak: number }>(
    `SELECT floor((${MS('bucket_start')} - $2::float8) / $4::float8)::int AS i, max(devices) AS peak
       FROM place_occupancy
      WHERE place_id = $1 AND bucket_start >= ${TS('$2')} AND bucket_start < ${TS('$3')}
      GROUP BY 1`,
    [placeId, fromMs, toMs, stepMs],
    { name: 'api_place_series' },
  );
  return new Map(rows.map((r) => [r.i, r.peak]));
}

/** Peak of a place's bucket counts in [fromMs, toMs) (0 when none). */
export async function placePeak(
  db: Database,
  placeId: string,
  fromMs: number,
  toMs: number,
): Promise<number> {
  const { rows } = await db.query<{ peak: number | null }>(
    `SELECT max(devices) AS peak FROM place_occupancy
      WHERE place_id = $1 AND bucket_start >= ${TS('$2')} AND bucket_start < ${TS('$3')}`,
    [placeId, fromMs, toMs],
    { name: 'api_place_peak' },
  );
  return rows[0]?.peak ?? 0;
}

/** Hourly peak of a place's bucket counts over [fromMs, toMs): hour start (ms) → peak. */
export async function placeHourlyPeaks(
  db: Database,
  placeId: string,
  fromMs: number,
  toMs: number,
): Promise<Map<number, number>> {
  const { rows } = await db.query<{ h: number; peak: number }>(
    `SELECT (floor(${MS('bucket_start')} / 3600000) * 3600000)::float8 AS h, max(devices) AS peak
       FROM place_occupancy
      WHERE place_id = $1 AND bucket_start >= ${TS('$2')} AND bucket_start < ${TS('$3')}
      GROUP BY 1`,
    [placeId, fromMs, toMs],
    { name: 'api_place_hourly' },
  );
  return new Map(rows.map((r) => [Number(r.h), r.peak]));
}

export interface PopularPlace {
  placeId: string;
  name: string;
  category: string;
  devices: number;
}

/** Top-k places of a bucket with devices ≥ minDevices (deleted places excluded), ties by id. */
export async function popularPlaces(
  db: Database,
  bucketStartMs: number,
  k: number,
  minDevices: number,
  category: string | undefined,
): Promise<PopularPlace[]> {
  const { rows } = await db.query<PopularPlace>(
    `SELECT o.place_id AS "placeId", p.name, p.category, o.devices
       FROM place_occupancy o JOIN places p ON p.id = o.place_id
      WHERE o.bucket_start = ${TS('$1')} AND o.devices >= $3 AND ($4::text IS NULL OR p.category = $4)
      ORDER BY o.devices DESC, o.place_id
      LIMIT $2`,
    [bucketStartMs, k, minDevices, category ?? null],
    { name: 'api_popular_places' },
  );
  return rows;
}

/** Cell visits (any device) to the given cells starting in [fromMs, toMs). */
export async function visitsInCells(
  db: Database,
  cells: readonly string[],
  fromMs: number,
  toMs: number,
): Promise<PlaceVisit[]> {
  const { rows } = await db.query<{ deviceId: string; startMs: number; endMs: number }>(
    `SELECT device_id AS "deviceId", ${MS('start_at')} AS "startMs", ${MS('end_at')} AS "endMs"
       FROM visits
      WHERE cell = ANY($1::text[]) AND start_at >= ${TS('$2')} AND start_at < ${TS('$3')}`,
    [cells, fromMs, toMs],
    { name: 'api_visits_in_cells' },
  );
  return rows.map((r) => ({
    deviceId: r.deviceId,
    startMs: Math.round(r.startMs),
    endMs: Math.round(r.endMs),
  }));
}

/**
 * A change stamp of the visits `visitsInCells` reads: their count and the sum of 64-bit hashes of each
 * (device, start, end). A visit closed, extended, added or erased changes it (short of a collision); it
 * comes back as one row where the visits are many.
 */
export async function visitsStamp(
  db: Pick<Database, 'query'>,
  cells: readonly string[],
  fromMs: number,
  toMs: number,
): Promise<string> {
  const { rows } = await db.query<{ stamp: string }>(
    `SELECT count(*) || ':' || coalesce(sum(hashtextextended(
              device_id || ':' || ${MS('start_at')} || ':' || ${MS('end_at')}, 0)::numeric), 0) AS stamp
       FROM visits
      WHERE cell = ANY($1::text[]) AND start_at >= ${TS('$2')} AND start_at < ${TS('$3')}`,
    [cells, fromMs, toMs],
    { name: 'api_visits_stamp' },
  );
  return rows[0]?.stamp ?? '';
}

/** Places containing any of the cells (GIN index on places.cells). */
export async function placesWithCells(
  db: Database,
  cells: readonly string[],
): Promise<{ id: string; name: string; category: string; cells: string[] }[]> {
  if (cells.length === 0) return [];
  const { rows } = await db.query<{ id: string; name: string; category: string; cells: string[] }>(
    'SELECT id, name, category, cells FROM places WHERE cells && $1::text[] ORDER BY id',
    [cells],
  );
  return rows;
}
