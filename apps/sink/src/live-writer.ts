import { bulk, TS, type Tx } from './bulk.ts';
import { LIVE_VALUE_COLUMNS, type LiveOccupancyRow, type LivePlaceOccupancyRow } from './live-records.ts';

// Latest wins by the processor clock: a re-sent value of an aborted transaction (older computed_at)
// never overwrites a newer one.
const UPSERT_LIVE = `
INSERT INTO occupancy_live AS o (cell, bucket_start, bucket_ms, region, lat, lon, observed, confirmed,
                                 estimate, lower, upper, completeness, final_at, computed_at)
SELECT t.cell, ${TS('t.b')}, t.bms, t.region, t.lat, t.lon, t.observed, t.confirmed, t.estimate, t.lower,
       t.upper, t.completeness, ${TS('t.f')}, ${TS('t.c')}
  FROM unnest($1::text[], $2::real[], $3::real[], $4::bigint[], $5::int[], $6::text[], $7::int[], $8::int[],
              $9::int[], $10::int[], $11::int[], $12::real[], $13::bigint[], $14::bigint[])
       AS t(cell, lat, lon, b, bms, region, observed, confirmed, estimate, lower, upper, completeness, f, c)
ON CONFLICT (cell, bucket_start) DO UPDATE
   SET bucket_ms = EXCLUDED.bucket_ms, region = EXCLUDED.region, observed = EXCLUDED.observed,
       confirmed = EXCLUDED.confirmed, estimate = EXCLUDED.estimate, lower = EXCLUDED.lower,
       upper = EXCLUDED.upper, completeness = EXCLUDED.completeness, final_at = EXCLUDED.final_at,
       computed_at = EXCLUDED.computed_at, updated_at = now()
 WHERE o.computed_at <= EXCLUDED.computed_at`;

/** Rows past their final time are only history: the final counts are in `occupancy`. */
const PRUNE_LIVE = `DELETE FROM occupancy_live WHERE final_at < now() - interval '1 hour'`;
const PRUNE_LIVE_PLACES = `DELETE FROM place_occupancy_live WHERE final_at < now() - interval '1 hour'`;
const PRUNE_EVERY_MS = 60_000;
let lastPruneMs = 0;

/** Deletes expired provisional rows of cells and places, about once a minute. */
export async function pruneLive(tx: Tx): Promise<void> {
  if (Date.now() - lastPruneMs < PRUNE_EVERY_MS) return;
  lastPruneMs = Date.now();
  await tx.query(PRUNE_LIVE);
  await tx.query(PRUNE_LIVE_PLACES);
}

/** Upserts provisional rows (latest computed_at wins). */
export async function upsertLiveOccupancy(tx: Tx, rows: readonly LiveOccupancyRow[]): Promise<number> {
  return bulk(tx, UPSERT_LIVE, rows, ['cell', 'lat', 'lon', ...LIVE_VALUE_COLUMNS]);
}

// Same rule for places: latest computed_at wins (migration 006).
const UPSERT_LIVE_PLACE = `
INSERT INTO place_occupancy_live AS o (place_id, bucket_start, bucket_ms, region, observed, confirmed,
                                       estimate, lower, upper, completeness, final_at, computed_at, version)
SELECT t.p, ${TS('t.b')}, t.bms, t.region, t.observed, t.confirmed, t.estimate, t.lower, t.upper,
       t.completeness, ${TS('t.f')}, ${TS('t.c')}, t.v
  FROM unnest($1::text[], $2::int[], $3::bigint[], $4::int[], $5::text[], $6::int[], $7::int[], $8::int[],
              $9::int[], $10::int[], $11::real[], $12::bigint[], $13::bigint[])
       AS t(p, v, b, bms, region, observed, confirmed, estimate, lower, upper, completeness, f, c)
ON CONFLICT (place_id, bucket_start) DO UPDATE
   SET bucket_ms = EXCLUDED.bucket_ms, region = EXCLUDED.region, observed = EXCLUDED.observed,
       confirmed = EXCLUDED.confirmed, estimate = EXCLUDED.estimate, lower = EXCLUDED.lower,
       upper = EXCLUDED.upper, completeness = EXCLUDED.completeness, final_at = EXCLUDED.final_at,
       computed_at = EXCLUDED.computed_at, version = EXCLUDED.version, updated_at = now()
 WHERE o.computed_at <= EXCLUDED.computed_at`;

/** Upserts provisional place rows (latest computed_at wins). */
export async function upsertLivePlaceOccupancy(
  tx: Tx,
  rows: readonly LivePlaceOccupancyRow[],
): Promise<number> {
  return bulk(tx, UPSERT_LIVE_PLACE, rows, ['placeId', 'version', ...LIVE_VALUE_COLUMNS]);
}
