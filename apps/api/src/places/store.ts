// The place registry in PostgreSQL (migration 003) and its outbox towards the `places` topic.

import { randomUUID } from 'node:crypto';
import type { Database } from '@footfall/db';
import type { PlaceGeometry } from '@footfall/domain';
import { TS } from '../sql-time.ts';
import type { PlacePublisher, PublishedPlace } from './publisher.ts';

type Tx = Pick<Database, 'query'>;

/** A place as stored. */
export interface PlaceRow {
  id: string;
  name: string;
  category: string;
  geometry: PlaceGeometry;
  cells: string[];
  region: string;
  bbox: [number, number, number, number];
  effectiveFromMs: number;
  version: number;
  createdAtMs: number;
  updatedAtMs: number;
}

/** What a create or update writes (the API computed cells, region and bbox from the geometry). */
export interface PlaceInput {
  name: string;
  category: string;
  geometry: PlaceGeometry;
  cells: string[];
  region: string;
  bbox: [number, number, number, number];
  effectiveFromMs: number;
}

const COLUMNS = `id, name, category, geometry, cells, region, min_lon, min_lat, max_lon, max_lat,
  (extract(epoch from effective_from) * 1000)::float8 AS effective_from_ms, version,
  (extract(epoch from created_at) * 1000)::float8 AS created_ms,
  (extract(epoch from updated_at) * 1000)::float8 AS updated_ms`;

interface Raw {
  id: string;
  name: string;
  category: string;
  geometry: PlaceGeometry;
  cells: string[];
  region: string;
  min_lon: number;
  min_lat: number;
  max_lon: number;
  max_lat: number;
  effective_from_ms: number;
  version: number;
  created_ms: number;
  updated_ms: number;
}

const toRow = (r: Raw): PlaceRow => ({
  id: r.id,
  name: r.name,
  category: r.category,
  geometry: r.geometry,
  cells: r.cells,
  region: r.region,
  bbox: [r.min_lon, r.min_lat, r.max_lon, r.max_lat],
  effectiveFromMs: Math.round(r.effective_from_ms),
  version: r.version,
  createdAtMs: Math.round(r.created_ms),
  updatedAtMs: Math.round(r.updated_ms),
});

const params = (p: PlaceInput) => [
  p.name,
  p.category,
  JSON.stringify(p.geometry),
  p.cells,
  p.region,
  ...p.bbox,
  p.effectiveFromMs,
];

const queue = (tx: Tx, id: string) =>
  tx.query(
    `INSERT INTO places_outbox (place_id) VALUES ($1)
     ON CONFLICT (place_id) DO UPDATE SET queued_at = clock_timestamp()`,
    [id],
  );

export async function createPlace(db: Database, input: PlaceInput): Promise<PlaceRow> {
  const id = randomUUID();
  return db.transaction(async (tx) => {
    const r = await tx.query<Raw>(
      `INSERT INTO places (id, name, category, geometry, cells, region, min_lon, min_lat, max_lon, max_lat,
                           effective_from)
       VALUES ($10, $1, $2, $3::jsonb, $4::text[], $5, $6, $7, $8, $9, ${TS('$11')})
       RETURNING ${COLUMNS}`,
      [...params(input).slice(0, 9), id, input.effectiveFromMs],
    );
    await queue(tx, id);
    return toRow(r.rows[0] as Raw);
  });
}

export async function updatePlace(
  db: Database,
  id: string,
  input: PlaceInput,
): Promise<PlaceRow | undefined> {
  return db.transaction(async (tx) => {
    const r = await tx.query<Raw>(
      `UPDATE places SET name = $1, category = $2, geometry = $3::jsonb, cells = $4::text[], region = $5,
              min_lon = $6, min_lat = $7, max_lon = $8, max_lat = $9, effective_from = ${TS('$10')},
              version = version + 1, updated_at = now()
        WHERE id = $11
       RETURNING ${COLUMNS}`,
      [...params(input), id],
    );
    if (r.rowCount === 0) return undefined;
    await queue(tx, id);
    return toRow(r.rows[0] as Raw);
  });
}

export async function deletePlace(db: Database, id: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const r = await tx.query('DELETE FROM places WHERE id = $1', [id]);
    if (r.rowCount === 0) return false;
    await queue(tx, id);
    return true;
  });
}

export async function getPlace(db: Pick<Database, 'query'>, id: string): Promise<PlaceRow | undefined> {
  const r = await db.query<Raw>(`SELECT ${COLUMNS} FROM places WHERE id = $1`, [id], {
    name: 'place_by_id',
  });
  return r.rows[0] === undefined ? undefined : toRow(r.rows[0]);
}

export interface ListQuery {
  bbox?: { minLon: number; minLat: number; maxLon: number; maxLat: number } | undefined;
  /** Case-insensitive prefix of the name (served by the `lower(name) COLLATE "C"` index, migration 006). */
  q?: string | undefined;
  limit: number;
  offset: number;
}

/** Places intersecting the bbox (by bounding box) and/or matching the name, by name (byte order) then id. */
export async function listPlaces(db: Database, q: ListQuery): Promise<{ places: PlaceRow[]; total: number }> {
  const where: string[] = [];
  const args: unknown[] = [];
  if (q.bbox) {
    args.push(q.bbox.minLon, q.bbox.maxLon, q.bbox.minLat, q.bbox.maxLat);
    where.push('max_lon >= $1 AND min_lon <= $2 AND max_lat >= $3 AND min_lat <= $4');
  }
  if (q.q) {
    args.push(`${q.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    where.push(`(lower(name) COLLATE "C") LIKE $${args.length}`);
  }
  const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
  // Four statement shapes (with/without bbox, name), each prepared once per connection.
  const shape = `${q.bbox ? 'b' : ''}${q.q ? 'q' : ''}`;
  const n = args.length;
  const r = await db.query<Raw>(
    `SELECT ${COLUMNS} FROM places ${cond} ORDER BY lower(name) COLLATE "C", id LIMIT $${n + 1} OFFSET $${n + 2}`,
    [...args, q.limit, q.offset],
    { name: `places_list_${shape}` },
  );
  // A page that is not full and not past the end is the last one: its end is the total, no count needed
  // (a name search usually finds a handful of places).
  if (r.rows.length < q.limit && (r.rows.length > 0 || q.offset === 0))
    return { places: r.rows.map(toRow), total: q.offset + r.rows.length };
  const total = await db.query<{ n: string }>(`SELECT count(*) AS n FROM places ${cond}`, args, {
    name: `places_count_${shape}`,
  });
  return { places: r.rows.map(toRow), total: Number(total.rows[0]?.n ?? 0) };
}

export const toDefinition = (p: PlaceRow): PublishedPlace => ({
  id: p.id,
  version: p.version,
  name: p.name,
  category: p.category,
  cells: p.cells,
  effectiveFromMs: p.effectiveFromMs,
  region: p.region,
});

/**
 * Publishes the current state of the given places (or of everything in the outbox) and clears their
 * outbox rows, except rows queued again meanwhile (a concurrent change publishes itself).
 */
export async function flushOutbox(
  db: Database,
  publisher: PlacePublisher,
  ids?: readonly string[],
): Promise<number> {
  // queued_at as text: exact (microseconds), where a JS Date would truncate it to ms.
  const queued = await db.query<{ place_id: string; queued_at: string }>(
    ids === undefined
      ? 'SELECT place_id, queued_at::text AS queued_at FROM places_outbox ORDER BY queued_at LIMIT 1000'
      : 'SELECT place_id, queued_at::text AS queued_at FROM places_outbox WHERE place_id = ANY($1::text[])',
    ids === undefined ? [] : [ids],
  );
  if (queued.rows.length === 0) return 0;
  const items = [];
  for (const row of queued.rows) {
    const place = await getPlace(db, row.place_id);
    items.push({ id: row.place_id, definition: place === undefined ? undefined : toDefinition(place) });
  }
  await publisher.publish(items);
  await db.query(
    `DELETE FROM places_outbox o USING unnest($1::text[], $2::timestamptz[]) AS t(id, q)
      WHERE o.place_id = t.id AND o.queued_at <= t.q`,
    [queued.rows.map((r) => r.place_id), queued.rows.map((r) => r.queued_at)],
  );
  return items.length;
}
