import type { Database } from '@footfall/db';
import { type CellCount, mergeOverlappingVisits, rollUpCell, timeSpentMs, topK } from '@footfall/domain';
import type { TopKLoader } from './loaders.ts';
import type { BBox } from './params.ts';
import { MS, TS } from './sql-time.ts';

// Exact ms ↔ timestamptz conversions (no float seconds).

export interface PopularQuery {
  bucketStartMs: number;
  k: number;
  /** Only cells whose own count is publishable (>= K_ANONYMITY) are read; see docs/api.md. */
  minDevices: number;
  cellResolution: number;
  resolution: number;
  bbox?: BBox | undefined;
  region?: { cell: string; resolution: number; regions: string[]; exact: boolean } | undefined;
  /**
   * Table read: raw `occupancy` (k-anonymity gate, default) or the stored noisy `dp_releases` (dp gate;
   * same columns). Roll-ups of dp releases are thus post-processing of released values.
   */
  source?: 'occupancy' | 'dp_releases' | undefined;
}

/**
 * Top-K of a bucket. At the stored resolution with no ancestor check the database does all of it in
 * index order (LIMIT k). Otherwise every publishable cell of the bucket (inside the filter) is read and
 * rolled up here: a parent's count is the sum of its publishable children (docs/api.md, "Roll-up").
 */
export async function popular(db: Database, q: PopularQuery, loader?: TopKLoader): Promise<CellCount[]> {
  const table = q.source ?? 'occupancy';
  if (loader && table === 'occupancy' && !q.bbox && !q.region && q.resolution === q.cellResolution)
    return loader.load({ b: q.bucketStartMs, k: q.k });
  const where = [`bucket_start = ${TS('$1')}`, 'devices >= $2'];
  const params: unknown[] = [q.bucketStartMs, q.minDevices];
  if (q.bbox) {
    params.push(q.bbox.minLat, q.bbox.maxLat, q.bbox.minLon, q.bbox.maxLon);
    const n = params.length;
    where.push(`lat BETWEEN $${n - 3} AND $${n - 2}`, `lon BETWEEN $${n - 1} AND $${n}`);
  }
  if (q.region) {
    params.push(q.region.regions);
    where.push(`region = ANY($${params.length}::text[])`);
  }
  const inDb = q.resolution === q.cellResolution && (!q.region || q.region.exact);
  let limit = '';
  if (inDb) {
    params.push(q.k);
    limit = `LIMIT $${params.length}`;
  }
  const text = `SELECT cell, devices FROM ${table} WHERE ${where.join(' AND ')} ORDER BY devices DESC, cell ${limit}`;
  // One statement name per query shape (table / bbox / region / limit), so each shape is prepared once.
  const name = `api_popular_${table === 'occupancy' ? '' : 'dp_'}${q.bbox ? 'b' : ''}${q.region ? 'r' : ''}${inDb ? 'l' : ''}`;
  const { rows } = await db.query<CellCount>(text, params, { name });
  if (inDb) return rows;
  const region = q.region;
  const sums = new Map<string, number>();
  for (const r of rows) {
    if (region && !region.exact && rollUpCell(r.cell, region.resolution) !== region.cell) continue;
    const parent = rollUpCell(r.cell, q.resolution);
    sums.set(parent, (sums.get(parent) ?? 0) + r.devices);
  }
  return topK(
    [...sums].map(([cell, devices]) => ({ cell, devices })),
    q.k,
  );
}

export interface StoredVisit {
  deviceId: string;
  cell: string;
  startMs: number;
  endMs: number;
  pings: number;
  closed: boolean;
}

/** Whether anything is (or was) known about a device: 'erased', 'known', or 'unknown'. */
export async function deviceStatus(db: Database, deviceId: string): Promise<'erased' | 'known' | 'unknown'> {
  const { rows } = await db.query<{ erased: boolean; known: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM erased_devices WHERE device_id = $1) AS erased,
            EXISTS (SELECT 1 FROM visits WHERE device_id = $1) AS known`,
    [deviceId],
  );
  return rows[0]?.erased ? 'erased' : rows[0]?.known ? 'known' : 'unknown';
}

export interface MergedVisit extends StoredVisit {}

/** Overlapping visits of the same cell merged (docs/insights.md); `closed` only if all parts are. */
export function mergeVisits(visits: readonly StoredVisit[]): MergedVisit[] {
  const merged = mergeOverlappingVisits(visits);
  // Carry `closed` over: a merged visit is closed when every part that overlaps it is.
  return merged
    .map((m) => ({
      ...m,
      closed: visits
        .filter((v) => v.cell === m.cell && v.startMs >= m.startMs && v.startMs <= m.endMs)
        .every((v) => v.closed),
    }))
    .sort((a, b) => a.startMs - b.startMs || (a.cell < b.cell ? -1 : a.cell > b.cell ? 1 : 0));
}

export interface PlaceTime {
  cell: string;
  timeSpentMs: number;
  visits: number;
}

/** Time spent per cell over [fromMs, toMs), most first (ties: cell ascending). */
export function timePerPlace(visits: readonly StoredVisit[], fromMs: number, toMs: number): PlaceTime[] {
  const byCell = new Map<string, StoredVisit[]>();
  for (const v of visits) {
    const list = byCell.get(v.cell);
    if (list) list.push(v);
    else byCell.set(v.cell, [v]);
  }
  const out: PlaceTime[] = [];
  for (const [cell, list] of byCell) {
    const merged = mergeOverlappingVisits(list);
    out.push({
      cell,
      timeSpentMs: timeSpentMs(merged, fromMs, toMs),
      visits: merged.filter((m) => m.startMs < toMs && m.endMs >= fromMs).length,
    });
  }
  return out.sort(
    (a, b) => b.timeSpentMs - a.timeSpentMs || (a.cell < b.cell ? -1 : a.cell > b.cell ? 1 : 0),
  );
}

/** Erases a device's visits and records the erasure, atomically w.r.t. concurrent sink batches. */
export async function eraseDevice(
  db: Database,
  deviceId: string,
  lockKey: number,
): Promise<{ visitsDeleted: number; erasedAtMs: number }> {
  return db.transaction(async (tx) => {
    // Exclusive: waits for in-flight sink batches (they hold it shared) and holds back new ones.
    await tx.query('SELECT pg_advisory_xact_lock($1)', [lockKey]);
    const del = await tx.query('DELETE FROM visits WHERE device_id = $1', [deviceId]);
    const { rows } = await tx.query<{ at: number }>(
      `INSERT INTO erased_devices AS e (device_id, visits_deleted) VALUES ($1, $2)
       ON CONFLICT (device_id) DO UPDATE SET erased_at = now(), visits_deleted = e.visits_deleted + EXCLUDED.visits_deleted
       RETURNING ${MS('erased_at')} AS at`,
      [deviceId, del.rowCount],
    );
    return { visitsDeleted: del.rowCount, erasedAtMs: rows[0]?.at ?? Date.now() };
  });
}
