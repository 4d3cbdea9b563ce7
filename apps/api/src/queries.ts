import type { Database } from '@footfall/db';
import { type CellCount, mergeOverlappingVisits, rollUpCell, timeSpentMs, topK } from '@footfall/domain';
import type { BBox } from './params.ts';

// Exact ms ↔ timestamptz conversions (no float seconds).
const TS = (p: string) => `(timestamptz 'epoch' + ${p}::bigint * interval '1 millisecond')`;
const MS = (col: string) => `(extract(epoch FROM ${col}) * 1000)::bigint`;

/** Raw (not k-anonymised) occupancy of one cell in one bucket; 0 when no row (nobody present). */
export async function occupancyAt(db: Database, cell: string, bucketStartMs: number): Promise<number> {
  const { rows } = await db.query<{ devices: number }>(
    `SELECT devices FROM occupancy WHERE cell = $1 AND bucket_start = ${TS('$2')}`,
    [cell, bucketStartMs],
  );
  return rows[0]?.devices ?? 0;
}

/** Peak (max) bucket count of one cell per step over buckets starting in [fromMs, toMs). */
export async function occupancySeries(
  db: Database,
  cell: string,
  fromMs: number,
  toMs: number,
  stepMs: number,
): Promise<Map<number, number>> {
  const { rows } = await db.query<{ i: number; peak: number }>(
    `SELECT ((${MS('bucket_start')} - $2::bigint) / $4::bigint)::int AS i, max(devices)::int AS peak
       FROM occupancy
      WHERE cell = $1 AND bucket_start >= ${TS('$2')} AND bucket_start < ${TS('$3')}
      GROUP BY 1`,
    [cell, fromMs, toMs, stepMs],
    { name: 'api_occupancy_series' },
  );
  return new Map(rows.map((r) => [r.i, r.peak]));
}

export interface PopularQuery {
  bucketStartMs: number;
  k: number;
  /** Only cells whose own count is publishable (>= K_ANONYMITY) are read; see docs/api.md. */
  minDevices: number;
  cellResolution: number;
  resolution: number;
  bbox?: BBox | undefined;
  region?: { cell: string; resolution: number; regions: string[]; exact: boolean } | undefined;
}

/**
 * Top-K of a bucket. At the stored resolution with no ancestor check the database does all of it in
 * index order (LIMIT k). Otherwise every publishable cell of the bucket (inside the filter) is read and
 * rolled up here: a parent's count is the sum of its publishable children (docs/api.md, "Roll-up").
 */
export async function popular(db: Database, q: PopularQuery, loader?: PopularLoader): Promise<CellCount[]> {
  if (loader && !q.bbox && !q.region && q.resolution === q.cellResolution)
    return loader.load(q.bucketStartMs, q.k);
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
  const text = `SELECT cell, devices FROM occupancy WHERE ${where.join(' AND ')} ORDER BY devices DESC, cell ${limit}`;
  // One statement name per query shape (bbox / region / limit), so each shape is prepared once.
  const name = `api_popular_${q.bbox ? 'b' : ''}${q.region ? 'r' : ''}${inDb ? 'l' : ''}`;
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

/** A device's visits that overlap [fromMs, toMs) (closed intervals [start, end]). */
export async function visitsOf(
  db: Database,
  deviceId: string,
  fromMs: number,
  toMs: number,
): Promise<StoredVisit[]> {
  const { rows } = await db.query<StoredVisit>(
    `SELECT device_id AS "deviceId", cell, ${MS('start_at')} AS "startMs", ${MS('end_at')} AS "endMs", pings, closed
       FROM visits
      WHERE device_id = $1 AND start_at < ${TS('$3')} AND end_at >= ${TS('$2')}
      ORDER BY start_at, cell`,
    [deviceId, fromMs, toMs],
    { name: 'api_visits_of' },
  );
  return rows;
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

/**
 * Coalesces concurrent point lookups into one query per event-loop turn (a DataLoader). Under load a
 * round trip per request is what limits throughput; one `unnest` join for all lookups that arrived in
 * the same turn costs about as much as a single one.
 */
export class OccupancyLoader {
  readonly #db: Database;
  readonly #maxBatch: number;
  #pending: { cell: string; b: number; resolve: (n: number) => void; reject: (e: unknown) => void }[] = [];
  #scheduled = false;

  constructor(db: Database, maxBatch = 1_000) {
    this.#db = db;
    this.#maxBatch = maxBatch;
  }

  /** Raw occupancy of `cell` in the bucket starting at `bucketStartMs` (0 when no row). */
  load(cell: string, bucketStartMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ cell, b: bucketStartMs, resolve, reject });
      if (this.#pending.length >= this.#maxBatch) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    this.#db
      .query<{ i: number; devices: number }>(
        `SELECT t.i::int AS i, o.devices
           FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS t(cell, b, i)
           JOIN occupancy o ON o.cell = t.cell AND o.bucket_start = ${TS('t.b')}`,
        [batch.map((x) => x.cell), batch.map((x) => x.b)],
        { name: 'api_occupancy_batch' },
      )
      .then(
        ({ rows }) => {
          const found = new Map(rows.map((r) => [r.i, r.devices]));
          batch.forEach((x, i) => {
            x.resolve(found.get(i + 1) ?? 0);
          });
        },
        (error: unknown) => {
          for (const x of batch) x.reject(error);
        },
      );
  }
}

/**
 * Coalesces concurrent plain top-K lookups (stored resolution, no bbox/region) into one query per
 * event-loop turn, like OccupancyLoader: one LATERAL index scan per distinct (bucket, k) in the batch.
 * Profiling showed the socket write of each query (loopback TCP) costing more API CPU than the rest of
 * the request; a batch pays it once. Identical questions in one batch share one answer (single flight).
 */
export class PopularLoader {
  readonly #db: Database;
  readonly #minDevices: number;
  #pending = new Map<string, { b: number; k: number; waiters: PromiseWithResolvers<CellCount[]>[] }>();
  #scheduled = false;

  constructor(db: Database, minDevices: number) {
    this.#db = db;
    this.#minDevices = minDevices;
  }

  /** Top-k publishable cells (devices >= minDevices) of the bucket starting at `bucketStartMs`. */
  load(bucketStartMs: number, k: number): Promise<CellCount[]> {
    const key = `${bucketStartMs}|${k}`;
    const w = Promise.withResolvers<CellCount[]>();
    const entry = this.#pending.get(key);
    if (entry) entry.waiters.push(w);
    else this.#pending.set(key, { b: bucketStartMs, k, waiters: [w] });
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return w.promise;
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = [...this.#pending.values()];
    this.#pending = new Map();
    if (batch.length === 0) return;
    this.#db
      .query<{ i: number; cell: string; devices: number }>(
        `SELECT t.i::int AS i, o.cell, o.devices
         FROM unnest($1::bigint[], $2::int[]) WITH ORDINALITY AS t(b, k, i)
         CROSS JOIN LATERAL (
           SELECT cell, devices FROM occupancy
            WHERE bucket_start = ${TS('t.b')} AND devices >= $3
            ORDER BY devices DESC, cell LIMIT t.k) o
        ORDER BY t.i, o.devices DESC, o.cell`,
        [batch.map((x) => x.b), batch.map((x) => x.k), this.#minDevices],
        { name: 'api_popular_batch' },
      )
      .then(
        ({ rows }) => {
          const out = batch.map((): CellCount[] => []);
          for (const r of rows) out[r.i - 1]?.push({ cell: r.cell, devices: r.devices });
          batch.forEach((x, i) => {
            for (const w of x.waiters) w.resolve(out[i] ?? []);
          });
        },
        (error: unknown) => {
          for (const x of batch) for (const w of x.waiters) w.reject(error);
        },
      );
  }
}
