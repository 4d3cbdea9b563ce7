// Batched reads (DataLoader). Under load the cost of a request is mostly its database round trip: a
// CPU profile of the API showed the socket write of each query (loopback TCP) costing more than the
// rest of the request. A loader collects the lookups that arrive in one event-loop turn and sends them
// as ONE query (`unnest($arrays) WITH ORDINALITY` joined LATERAL to an index scan per lookup), which
// costs about as much as a single lookup. Every loader: no cache (answers change as the sink writes),
// at most 1000 lookups per query, a failed query fails each lookup of its batch.

import type { Database } from '@footfall/db';
import type { CellCount } from '@footfall/domain';
import DataLoader from 'dataloader';
import type { StoredVisit } from './queries.ts';
import { MS, TS } from './sql-time.ts';

const BATCH: DataLoader.Options<never, never> = {
  cache: false,
  maxBatchSize: 1_000,
  // A turn of the event loop, not DataLoader's default (the current microtask queue): requests whose
  // sockets became readable in the same poll phase share one query.
  batchScheduleFn: (callback) => setImmediate(callback),
};
const options = <K, V>() => BATCH as unknown as DataLoader.Options<K, V>;

/** Raw (not k-anonymised) occupancy of a cell in the bucket starting at `b` (0 when no row). */
export type OccupancyLoader = DataLoader<{ cell: string; b: number }, number>;

export function occupancyLoader(db: Database): OccupancyLoader {
  return new DataLoader(async (keys) => {
    const { rows } = await db.query<{ i: number; devices: number }>(
      `SELECT t.i::int AS i, o.devices
         FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS t(cell, b, i)
         JOIN occupancy o ON o.cell = t.cell AND o.bucket_start = ${TS('t.b')}`,
      [keys.map((k) => k.cell), keys.map((k) => k.b)],
      { name: 'api_occupancy_batch' },
    );
    const found = new Map(rows.map((r) => [r.i, r.devices]));
    return keys.map((_, i) => found.get(i + 1) ?? 0);
  }, options());
}

/** Top-k publishable cells (devices >= minDevices) of the bucket starting at `b`. */
export type TopKLoader = DataLoader<{ b: number; k: number }, CellCount[]>;

export function topKLoader(db: Database, minDevices: number): TopKLoader {
  return new DataLoader(async (keys) => {
    // Identical questions in one batch share one answer (single flight).
    const slot = new Map<string, number>();
    const distinct: { b: number; k: number }[] = [];
    const slots = keys.map((q) => {
      const id = `${q.b}|${q.k}`;
      let s = slot.get(id);
      if (s === undefined) {
        s = distinct.push(q) - 1;
        slot.set(id, s);
      }
      return s;
    });
    const { rows } = await db.query<{ i: number; cell: string; devices: number }>(
      `SELECT t.i::int AS i, o.cell, o.devices
         FROM unnest($1::bigint[], $2::int[]) WITH ORDINALITY AS t(b, k, i)
         CROSS JOIN LATERAL (
           SELECT cell, devices FROM occupancy
            WHERE bucket_start = ${TS('t.b')} AND devices >= $3
            ORDER BY devices DESC, cell LIMIT t.k) o
        ORDER BY t.i, o.devices DESC, o.cell`,
      [distinct.map((q) => q.b), distinct.map((q) => q.k), minDevices],
      { name: 'api_popular_batch' },
    );
    const out = distinct.map((): CellCount[] => []);
    for (const r of rows) out[r.i - 1]?.push({ cell: r.cell, devices: r.devices });
    return slots.map((s) => out[s] ?? []);
  }, options());
}

/**
 * Peak (max) bucket count of one cell per step over buckets starting in [fromMs, toMs): step index →
 * peak; steps with no row are absent (nobody there).
 */
export type SeriesLoader = DataLoader<
  { cell: string; fromMs: number; toMs: number; stepMs: number },
  Map<number, number>
>;

export function seriesLoader(db: Database): SeriesLoader {
  return new DataLoader(async (keys) => {
    const { rows } = await db.query<{ q: number; i: number; peak: number }>(
      `SELECT t.q::int AS q, o.i, o.peak
         FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS t(cell, f, e, s, q)
         CROSS JOIN LATERAL (
           SELECT ((${MS('bucket_start')} - t.f) / t.s)::int AS i, max(devices)::int AS peak
             FROM occupancy
            WHERE cell = t.cell AND bucket_start >= ${TS('t.f')} AND bucket_start < ${TS('t.e')}
            GROUP BY 1) o`,
      [
        keys.map((k) => k.cell),
        keys.map((k) => k.fromMs),
        keys.map((k) => k.toMs),
        keys.map((k) => k.stepMs),
      ],
      { name: 'api_series_batch' },
    );
    const out = keys.map(() => new Map<number, number>());
    for (const r of rows) out[r.q - 1]?.set(r.i, r.peak);
    return out;
  }, options());
}

/** A device's visits that overlap [fromMs, toMs) (closed intervals [start, end]), by start and cell. */
export type VisitsLoader = DataLoader<{ deviceId: string; fromMs: number; toMs: number }, StoredVisit[]>;

export function visitsLoader(db: Database): VisitsLoader {
  return new DataLoader(async (keys) => {
    const { rows } = await db.query<StoredVisit & { q: number }>(
      `SELECT t.q::int AS q, v.*
         FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS t(d, f, e, q)
         CROSS JOIN LATERAL (
           SELECT device_id AS "deviceId", cell, ${MS('start_at')} AS "startMs", ${MS('end_at')} AS "endMs",
                  pings, closed
             FROM visits
            WHERE device_id = t.d AND start_at < ${TS('t.e')} AND end_at >= ${TS('t.f')}) v
        ORDER BY t.q, v."startMs", v.cell`,
      [keys.map((k) => k.deviceId), keys.map((k) => k.fromMs), keys.map((k) => k.toMs)],
      { name: 'api_visits_batch' },
    );
    const out = keys.map((): StoredVisit[] => []);
    for (const { q, ...visit } of rows) out[q - 1]?.push(visit);
    return out;
  }, options());
}
