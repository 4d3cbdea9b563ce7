// Storage per device-day from the reference definition (docs/scaling.md): `node bench/storage-model.ts`.
// Simulates BENCH_STORAGE_DEVICES (default 300) phones for 24 h with the simulator's phone behaviour
// (moving/stationary ping intervals, suspensions, batching) into an in-memory uploader, aggregates them
// with the processor's own domain code (the ground truth's exact expectation), and counts what the sink
// would hold: occupancy rows (cell × 1-min bucket with ≥ 1 device) and visit rows, per device per day.
// The rows are then written into a temporary database with the real schema (packages/db migrations,
// daily partitions like the sink's) and measured with pg_total_relation_size (heap + indexes + TOAST).
// Rows inserted once: the sink upserts a bucket as it fills, so live tables also carry dead tuples until
// autovacuum reuses them (a lower bound). Writes bench/results/storage.json.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertNodeVersion } from '@footfall/config';
import { migrate, openDatabase } from '@footfall/db';
import { regionOf } from '@footfall/domain';
import { InMemoryUploader, runSimulation } from '@footfall/simulator';
import { createTemporaryDatabase } from '@footfall/testing';
import { cellToLatLng } from 'h3-js';

assertNodeVersion();
const DEVICES = Number(process.env.BENCH_STORAGE_DEVICES ?? 300);
const started = performance.now();
const uploader = new InMemoryUploader({ record: false });
const { stats, truth } = await runSimulation({
  uploader,
  devices: DEVICES,
  durationMs: 24 * 3_600_000,
  seed: Number(process.env.BENCH_STORAGE_SEED ?? 11),
  exactTruth: true,
});
truth.flush();
const occupancy: { cell: string; bucket: number; devices: number }[] = [];
for (const bucket of truth.expectedBuckets())
  for (const c of truth.expectedCells(bucket)) occupancy.push({ cell: c.cell, bucket, devices: c.devices });
const visits = truth.expectedVisits();
const occupancyRows = occupancy.length;
const visitRows = visits.length;

// ---- the same rows in PostgreSQL, real schema
const temp = await createTemporaryDatabase(undefined, 'footfall_storage');
const db = await openDatabase({ url: temp.url });
const bytesPerRow: Record<string, number> = {};
try {
  await migrate(db);
  const days = new Set<number>();
  for (const o of occupancy) days.add(Math.floor(o.bucket / 86_400_000));
  for (const v of visits) days.add(Math.floor(v.startMs / 86_400_000));
  for (const day of days) {
    const from = new Date(day * 86_400_000).toISOString();
    const to = new Date((day + 1) * 86_400_000).toISOString();
    const suffix = from.slice(0, 10).replaceAll('-', '');
    for (const table of ['occupancy', 'visits'])
      await db.query(
        `CREATE TABLE ${table}_p${suffix} PARTITION OF ${table} FOR VALUES FROM ('${from}') TO ('${to}')`,
      );
  }
  const CHUNK = 5_000;
  for (let i = 0; i < occupancy.length; i += CHUNK) {
    const part = occupancy.slice(i, i + CHUNK);
    const ll = part.map((o) => cellToLatLng(o.cell));
    await db.query(
      `INSERT INTO occupancy (cell, bucket_start, bucket_ms, region, lat, lon, devices, pings)
       SELECT c, to_timestamp(b / 1000.0), 60000, r, la, lo, d, d
         FROM unnest($1::text[], $2::float8[], $3::text[], $4::real[], $5::real[], $6::int[]) AS t(c, b, r, la, lo, d)`,
      [
        part.map((o) => o.cell),
        part.map((o) => o.bucket),
        part.map((o) => regionOf(o.cell, 5)),
        ll.map((x) => x[0]),
        ll.map((x) => x[1]),
        part.map((o) => o.devices),
      ],
    );
  }
  for (let i = 0; i < visits.length; i += CHUNK) {
    const part = visits.slice(i, i + CHUNK);
    await db.query(
      `INSERT INTO visits (device_id, cell, start_at, end_at, region, pings, closed)
       SELECT dv, c, to_timestamp(s / 1000.0), to_timestamp(e / 1000.0), r, p, cl
         FROM unnest($1::text[], $2::text[], $3::float8[], $4::float8[], $5::text[], $6::int[], $7::bool[])
           AS t(dv, c, s, e, r, p, cl)`,
      [
        part.map((v) => v.deviceId),
        part.map((v) => v.cell),
        part.map((v) => v.startMs),
        part.map((v) => v.endMs),
        part.map((v) => v.region),
        part.map((v) => v.pings),
        part.map((v) => v.closed),
      ],
    );
  }
  await db.query('VACUUM ANALYZE');
  for (const table of ['occupancy', 'visits']) {
    const r = await db.query<{ bytes: string; rows: string }>(
      `SELECT sum(pg_total_relation_size(c.oid))::bigint AS bytes, sum(c.reltuples)::bigint AS rows
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = '${table}'::regclass`,
    );
    const row = r.rows[0];
    bytesPerRow[table] =
      row && Number(row.rows) > 0 ? Math.round(Number(row.bytes) / Number(row.rows)) : Number.NaN;
  }
} finally {
  await db.close();
  await temp.drop().catch(() => {});
}
const results = join(import.meta.dirname, 'results');
const result = {
  date: new Date().toISOString(),
  devices: DEVICES,
  simulatedHours: 24,
  pingsPerDevicePerDay: Math.round(stats.pingsGenerated / DEVICES),
  occupancyRowsPerDevicePerDay: +(occupancyRows / DEVICES).toFixed(1),
  visitRowsPerDevicePerDay: +(visitRows / DEVICES).toFixed(2),
  bytesPerRow,
  bytesPerDevicePerDay: Math.round(
    (occupancyRows * (bytesPerRow.occupancy ?? Number.NaN) + visitRows * (bytesPerRow.visits ?? Number.NaN)) /
      DEVICES,
  ),
  seconds: Math.round((performance.now() - started) / 1000),
  method:
    'simulator phones (apps/simulator defaults) for 24 h → the processor domain aggregation (ground truth exact expectation) → rows the sink would hold; bytes per row = pg_total_relation_size / reltuples of the daily partitions after loading those rows into a temporary database with the real schema (VACUUM ANALYZE; inserted once, so a lower bound for upserted tables)',
};
writeFileSync(join(results, 'storage.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
