// Reads of the live edge (table occupancy_live, migration 002) and the answer-state fields every
// occupancy / popular answer and live event carries (docs/insights.md, "Live edge"; docs/api.md).
// Every number goes through publishLiveOccupancy, the one k-anonymity rule for provisional values.
import type { Database } from '@footfall/db';
import { bucketStart, type PublishedLiveOccupancy, publishLiveOccupancy } from '@footfall/domain';
import { cellToLatLng } from 'h3-js';
import { Type } from 'typebox';
import { MS, TS } from './sql-time.ts';

const VALUES = `${MS('bucket_start')} AS b, observed, confirmed, estimate, lower, upper, completeness,
  ${MS('final_at')} AS "finalAtMs"`;
const COLUMNS = `cell, ${VALUES}`;

/** One stored provisional row (raw). */
export interface LiveRow {
  cell: string;
  b: number;
  observed: number;
  confirmed: number;
  estimate: number;
  lower: number;
  upper: number;
  completeness: number;
  finalAtMs: number;
}

/** A count that is null when it may not be published (below K_ANONYMITY). */
export const Count = (description: string) => Type.Union([Type.Integer(), Type.Null()], { description });

/** The `nowcast` object of an answer (OpenAPI). */
export const NowcastSchema = Type.Union(
  [
    Type.Object({
      observed: Count('devices with presence carried to now (null below K_ANONYMITY)'),
      confirmed: Count('devices established by pings already arrived (null below K_ANONYMITY)'),
      estimate: Count('nowcast of the eventual count (null below K_ANONYMITY)'),
      lower: Count('interval lower bound; null when below K_ANONYMITY (the interval reaches below k)'),
      upper: Count('interval upper bound (null below K_ANONYMITY)'),
      suppressed: Type.Boolean({ description: 'true when nothing of the nowcast is publishable' }),
    }),
    Type.Null(),
  ],
  { description: 'the live-edge nowcast of a provisional bucket (null when final)' },
);

/** The state fields of an answer about one bucket (OpenAPI). */
export const StateFields = {
  state: Type.Union([Type.Literal('provisional'), Type.Literal('final')], {
    description: 'provisional: pings are still arriving (nowcast applies); final: the count is settled',
  }),
  finalAtMs: Type.Integer({
    description: 'when the bucket becomes final (its end + NOWCAST_HORIZON_MS), ms',
  }),
  completeness: Type.Number({
    description: 'estimated fraction of the bucket’s pings that have arrived (1 when final)',
  }),
};

export interface AnswerState {
  state: 'provisional' | 'final';
  finalAtMs: number;
  completeness: number;
  nowcast: (Omit<PublishedLiveOccupancy, 'completeness'> & { suppressed: boolean }) | null;
}

/** State of the bucket at `b` at time `nowMs`, from its live row (if any). */
export function answerState(
  row: Omit<LiveRow, 'cell'> | undefined,
  b: number,
  nowMs: number,
  bucketMs: number,
  horizonMs: number,
  k: number,
): AnswerState {
  const finalAtMs = row?.finalAtMs ?? b + bucketMs + horizonMs;
  if (nowMs >= finalAtMs) return { state: 'final', finalAtMs, completeness: 1, nowcast: null };
  if (row === undefined) {
    // Nothing carried or arrived for this cell or place (or the nowcast is off): an empty provisional bucket.
    return {
      state: 'provisional',
      finalAtMs,
      completeness: 0,
      nowcast: {
        observed: null,
        confirmed: null,
        estimate: null,
        lower: null,
        upper: null,
        suppressed: true,
      },
    };
  }
  const { completeness, ...nowcast } = publishLiveOccupancy(row, k);
  return { state: 'provisional', finalAtMs, completeness, nowcast };
}

/** A table of provisional rows: the cells' (occupancy_live) or the places' (place_occupancy_live). */
export interface LiveTable {
  readonly table: 'occupancy_live' | 'place_occupancy_live';
  readonly key: 'cell' | 'place_id';
  /** Prepared statement name. */
  readonly statement: string;
}

const CELL_ROWS: LiveTable = { table: 'occupancy_live', key: 'cell', statement: 'api_live_rows' };

/** Provisional rows of one cell or place over [fromMs, toMs) (bucket starts), by bucket start. */
export async function liveRowsOf<R extends Omit<LiveRow, 'cell'>>(
  db: Database,
  t: LiveTable,
  id: string,
  fromMs: number,
  toMs: number,
): Promise<Map<number, R>> {
  const { rows } = await db.query<R>(
    `SELECT ${t.key}, ${VALUES} FROM ${t.table}
      WHERE ${t.key} = $1 AND bucket_start >= ${TS('$2')} AND bucket_start < ${TS('$3')}`,
    [id, fromMs, toMs],
    { name: t.statement },
  );
  return new Map(rows.map((r) => [Number(r.b), normalise(r)]));
}

/** Provisional rows of one cell over [fromMs, toMs) (bucket starts). */
export function liveRows(
  db: Database,
  cell: string,
  fromMs: number,
  toMs: number,
): Promise<Map<number, LiveRow>> {
  return liveRowsOf<LiveRow>(db, CELL_ROWS, cell, fromMs, toMs);
}

/**
 * The provisional row a series step of several buckets answers with: the busiest bucket's (highest
 * estimate) among the buckets starting in [startMs, lastMs]; the step's state is its last bucket's.
 */
export function busiestLiveRow<R extends Omit<LiveRow, 'cell'>>(
  live: ReadonlyMap<number, R>,
  startMs: number,
  lastMs: number,
  bucketMs: number,
): R | undefined {
  let row: R | undefined;
  for (let b = bucketStart(startMs, bucketMs); b <= lastMs; b += bucketMs) {
    const r = live.get(b);
    if (r !== undefined && (row === undefined || r.estimate > row.estimate)) row = r;
  }
  return row;
}

/** A located nowcast entry of a top-K list. */
export interface NowcastLocation {
  rank: number;
  cell: string;
  lat: number;
  lon: number;
  estimate: number;
  lower: number | null;
  upper: number;
  observed: number;
  confirmed: number | null;
  completeness: number;
}

export const NowcastLocationSchema = Type.Object({
  rank: Type.Integer(),
  cell: Type.String(),
  lat: Type.Number(),
  lon: Type.Number(),
  estimate: Type.Integer(),
  lower: Count('null when the interval reaches below K_ANONYMITY'),
  upper: Type.Integer(),
  observed: Type.Integer(),
  confirmed: Count('null below K_ANONYMITY'),
  completeness: Type.Number({ description: 'estimated fraction of the bucket’s pings arrived' }),
});

/**
 * Top-k cells of a provisional bucket by nowcast estimate (ties: cell ascending), publishable only
 * (observed and estimate ≥ k, the same rule as every provisional number).
 */
export async function nowcastTopK(
  db: Database,
  b: number,
  k: number,
  kAnonymity: number,
  nowMs: number,
): Promise<NowcastLocation[]> {
  const { rows } = await db.query<LiveRow>(
    `SELECT ${COLUMNS} FROM occupancy_live
      WHERE bucket_start = ${TS('$1')} AND estimate >= $2 AND observed >= $2 AND final_at > ${TS('$4')}
      ORDER BY estimate DESC, cell LIMIT $3`,
    [b, kAnonymity, k, nowMs],
    { name: 'api_live_topk' },
  );
  return rows.map((raw, i) => {
    const r = normalise(raw);
    const p = publishLiveOccupancy(r, kAnonymity);
    const [lat, lon] = cellToLatLng(r.cell);
    return {
      rank: i + 1,
      cell: r.cell,
      lat,
      lon,
      estimate: p.estimate as number,
      lower: p.lower,
      upper: p.upper as number,
      observed: p.observed as number,
      confirmed: p.confirmed,
      completeness: p.completeness,
    };
  });
}

/** Numeric columns as numbers (bigint arrives as a string), completeness to two decimals. */
export function normalise<T extends Omit<LiveRow, 'cell'>>(r: T): T {
  return {
    ...r,
    b: Number(r.b),
    finalAtMs: Number(r.finalAtMs),
    completeness: Math.round(Number(r.completeness) * 100) / 100,
  };
}
