import { type Database, ERASURE_LOCK_KEY } from '@footfall/db';
import { bulk, TS, type Tx } from './bulk.ts';
import { pruneLive, upsertLiveOccupancy, upsertLivePlaceOccupancy } from './live-writer.ts';
import type { BatchPlan, OccupancyRow, PlaceOccupancyRow, VisitKey, VisitRow } from './records.ts';

/*
 * Upserts only touch a row whose values change (`IS DISTINCT FROM`), so replaying the topic leaves rows,
 * including `updated_at`, byte-for-byte identical, and the live poller sees only real changes.
 */
const UPSERT_OCCUPANCY = `
INSERT INTO occupancy AS o (cell, bucket_start, bucket_ms, region, lat, lon, devices, pings)
SELECT t.cell, ${TS('t.b')}, t.bms, t.region, t.lat, t.lon, t.devices, t.pings
  FROM unnest($1::text[], $2::bigint[], $3::int[], $4::text[], $5::real[], $6::real[], $7::int[], $8::int[])
       AS t(cell, b, bms, region, lat, lon, devices, pings)
ON CONFLICT (cell, bucket_start) DO UPDATE
   SET bucket_ms = EXCLUDED.bucket_ms, region = EXCLUDED.region, devices = EXCLUDED.devices,
       pings = EXCLUDED.pings, updated_at = now()
 WHERE (o.devices, o.pings, o.bucket_ms, o.region) IS DISTINCT FROM
       (EXCLUDED.devices, EXCLUDED.pings, EXCLUDED.bucket_ms, EXCLUDED.region)`;

const UPSERT_VISITS = `
INSERT INTO visits AS v (device_id, cell, start_at, end_at, region, pings, closed)
SELECT t.device_id, t.cell, ${TS('t.s')}, ${TS('t.e')}, t.region, t.pings, t.closed
  FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::int[], $7::bool[])
       AS t(device_id, cell, s, e, region, pings, closed)
 WHERE NOT EXISTS (SELECT 1 FROM erased_devices x WHERE x.device_id = t.device_id)
ON CONFLICT (device_id, cell, start_at) DO UPDATE
   SET end_at = EXCLUDED.end_at, region = EXCLUDED.region, pings = EXCLUDED.pings,
       closed = EXCLUDED.closed, updated_at = now()
 WHERE (v.end_at, v.pings, v.closed, v.region) IS DISTINCT FROM
       (EXCLUDED.end_at, EXCLUDED.pings, EXCLUDED.closed, EXCLUDED.region)`;

const DELETE_VISITS = `
DELETE FROM visits v
 USING unnest($1::text[], $2::text[], $3::bigint[]) AS t(device_id, cell, s)
 WHERE v.device_id = t.device_id AND v.cell = t.cell AND v.start_at = ${TS('t.s')}`;

const UPSERT_PLACE_OCCUPANCY = `
INSERT INTO place_occupancy AS o (place_id, bucket_start, bucket_ms, devices, version)
SELECT t.place_id, ${TS('t.b')}, t.bms, t.devices, t.version
  FROM unnest($1::text[], $2::bigint[], $3::int[], $4::int[], $5::int[]) AS t(place_id, b, bms, devices, version)
ON CONFLICT (place_id, bucket_start) DO UPDATE
   SET bucket_ms = EXCLUDED.bucket_ms, devices = EXCLUDED.devices, version = EXCLUDED.version, updated_at = now()
 WHERE (o.devices, o.bucket_ms, o.version) IS DISTINCT FROM (EXCLUDED.devices, EXCLUDED.bucket_ms, EXCLUDED.version)`;

async function upsertPlaceOccupancy(tx: Tx, rows: readonly PlaceOccupancyRow[]): Promise<number> {
  return bulk(tx, UPSERT_PLACE_OCCUPANCY, rows, [
    'placeId',
    'bucketStartMs',
    'bucketMs',
    'devices',
    'version',
  ]);
}

export interface WriteResult {
  occupancyChanged: number;
  visitsChanged: number;
  visitsDeleted: number;
}

async function upsertOccupancy(tx: Tx, rows: readonly OccupancyRow[]): Promise<number> {
  return bulk(tx, UPSERT_OCCUPANCY, rows, [
    'cell',
    'bucketStartMs',
    'bucketMs',
    'region',
    'lat',
    'lon',
    'devices',
    'pings',
  ]);
}

async function upsertVisits(tx: Tx, rows: readonly VisitRow[]): Promise<number> {
  return bulk(tx, UPSERT_VISITS, rows, ['deviceId', 'cell', 'startMs', 'endMs', 'region', 'pings', 'closed']);
}

async function deleteVisits(tx: Tx, keys: readonly VisitKey[]): Promise<number> {
  return bulk(tx, DELETE_VISITS, keys, ['deviceId', 'cell', 'startMs']);
}

/** Applies a batch plan in ONE transaction: all rows of the batch are durable together, or none. */
export async function writeBatch(db: Database, plan: BatchPlan): Promise<WriteResult> {
  return db.transaction(async (tx) => {
    const touchesVisits = plan.visits.length > 0 || plan.deletes.length > 0;
    if (touchesVisits) await tx.query('SELECT pg_advisory_xact_lock_shared($1)', [ERASURE_LOCK_KEY]);
    const occupancyChanged = plan.occupancy.length ? await upsertOccupancy(tx, plan.occupancy) : 0;
    const visitsChanged = plan.visits.length ? await upsertVisits(tx, plan.visits) : 0;
    const visitsDeleted = plan.deletes.length ? await deleteVisits(tx, plan.deletes) : 0;
    if (plan.live.length) await upsertLiveOccupancy(tx, plan.live);
    if (plan.places?.length) await upsertPlaceOccupancy(tx, plan.places);
    if (plan.livePlaces?.length) await upsertLivePlaceOccupancy(tx, plan.livePlaces);
    if (plan.live.length || plan.livePlaces?.length) await pruneLive(tx);
    return { occupancyChanged, visitsChanged, visitsDeleted };
  });
}
