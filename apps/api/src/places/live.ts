// Reads of the places' live edge (table place_occupancy_live, migration 006; docs/places.md, "Live
// edge"). Raw rows: every number reaches an answer only through answerState / publishLiveOccupancy,
// the same k-anonymity rule as the cells' live edge (live-edge.ts).
import type { Database } from '@footfall/db';
import { publishLiveOccupancy } from '@footfall/domain';
import { Type } from 'typebox';
import { Count, type LiveRow, type LiveTable, liveRowsOf, normalise } from '../live-edge.ts';
import { MS, TS } from '../sql-time.ts';

/** One stored provisional place row (raw). */
export type LivePlaceRow = Omit<LiveRow, 'cell'>;

const PLACE_ROWS: LiveTable = {
  table: 'place_occupancy_live',
  key: 'place_id',
  statement: 'api_live_place_rows',
};

/** Provisional rows of one place over [fromMs, toMs) (bucket starts). */
export function livePlaceRows(
  db: Database,
  placeId: string,
  fromMs: number,
  toMs: number,
): Promise<Map<number, LivePlaceRow>> {
  return liveRowsOf<LivePlaceRow>(db, PLACE_ROWS, placeId, fromMs, toMs);
}

export const NowcastPlaceSchema = Type.Object({
  rank: Type.Integer(),
  placeId: Type.String(),
  name: Type.String(),
  category: Type.String(),
  estimate: Type.Integer(),
  lower: Count('null when the interval reaches below K_ANONYMITY'),
  upper: Type.Integer(),
  observed: Type.Integer(),
  confirmed: Count('null below K_ANONYMITY'),
  completeness: Type.Number({ description: 'estimated fraction of the bucket’s pings arrived' }),
});

/** A ranked place of a provisional bucket; every number already through the k-anonymity rule. */
export interface NowcastPlace {
  rank: number;
  placeId: string;
  name: string;
  category: string;
  estimate: number;
  lower: number | null;
  upper: number;
  observed: number;
  confirmed: number | null;
  completeness: number;
}

/**
 * Top-k places of a provisional bucket by nowcast estimate (ties: id), publishable only (observed and
 * estimate ≥ k), deleted places excluded.
 */
export async function nowcastTopPlaces(
  db: Database,
  b: number,
  k: number,
  kAnonymity: number,
  nowMs: number,
  category: string | undefined,
): Promise<NowcastPlace[]> {
  const { rows } = await db.query<LivePlaceRow & { placeId: string; name: string; category: string }>(
    `SELECT o.place_id AS "placeId", p.name, p.category, ${MS('o.bucket_start')} AS b, o.observed,
            o.confirmed, o.estimate, o.lower, o.upper, o.completeness, ${MS('o.final_at')} AS "finalAtMs"
       FROM place_occupancy_live o JOIN places p ON p.id = o.place_id
      WHERE o.bucket_start = ${TS('$1')} AND o.estimate >= $2 AND o.observed >= $2
        AND o.final_at > ${TS('$4')} AND ($5::text IS NULL OR p.category = $5)
      ORDER BY o.estimate DESC, o.place_id LIMIT $3`,
    [b, kAnonymity, k, nowMs, category ?? null],
    { name: 'api_live_place_topk' },
  );
  return rows.map((raw, i) => {
    const p = publishLiveOccupancy(normalise(raw), kAnonymity);
    return {
      rank: i + 1,
      placeId: raw.placeId,
      name: raw.name,
      category: raw.category,
      estimate: p.estimate as number,
      lower: p.lower,
      upper: p.upper as number,
      observed: p.observed as number,
      confirmed: p.confirmed,
      completeness: p.completeness,
    };
  });
}
