// Gated per-bucket place counts of settled UTC days, held in memory for the point and series answers
// (docs/places.md, "Performance"). A day is read once per place (one indexed query of up to
// DAY / BUCKET_MS rows) instead of one query per request; only the k-anonymised value of each bucket is
// kept, the raw count is dropped as the row is read.

import type { Database } from '@footfall/db';
import { HOUR_MS, kAnonymize } from '@footfall/domain';
import { TS } from '../sql-time.ts';
import type { ReadCache } from './read-cache.ts';

const DAY_MS = 86_400_000;
/** Counts of buckets that ended this long ago no longer change (allowed lateness 1 h + presence gap). */
export const SETTLED_AFTER_MS = 2 * HOUR_MS;
/** Block cells: no row for the bucket (the count is 0) < a row below K_ANONYMITY (suppressed) < a count. */
const ABSENT = -2;
const SUPPRESSED = -1;

/**
 * One place's gated counts of one UTC day, up to `untilMs` (the day's end, or the settled edge for the
 * current day); `values` undefined when a row is off the bucket grid.
 */
export interface DayBlock {
  values: Int32Array | undefined;
  untilMs: number;
  /** The rows' change stamp (STAMP), read before them: a reload first compares it (`#block`). */
  stamp: string;
}

/**
 * A change stamp of one place's rows in a range: their count and the sum of 64-bit hashes of each
 * (bucket, count). Any insert, delete or count change alters it (short of a hash collision); it is read
 * from the primary key index alone (which includes `devices`) and comes back as one row, where the
 * block is up to DAY / BUCKET_MS rows to parse.
 */
const STAMP = `SELECT count(*) || ':' || coalesce(sum(hashtextextended(
                 (extract(epoch FROM bucket_start) * 1000)::bigint || ':' || devices, 0)::numeric), 0) AS stamp
                 FROM place_occupancy
                WHERE place_id = $1 AND bucket_start >= ${TS('$2')} AND bucket_start < ${TS('$3')}`;

/**
 * Buckets ending at or before this are settled (ended more than SETTLED_AFTER_MS ago); on an hour
 * boundary, so the current day's block is reloaded once an hour rather than every bucket.
 */
export function settledEdge(now: number): number {
  return Math.floor((now - SETTLED_AFTER_MS - 1) / HOUR_MS) * HOUR_MS;
}

/** The gated answer of one bucket or step: what `kAnonymize` makes of its (peak) count. */
export interface Gated {
  devices: number | null;
  suppressed: boolean;
}

/** The change stamp (STAMP) of place `placeId`'s stored counts of buckets in [fromMs, toMs). */
export async function placeCountsStamp(
  db: Pick<Database, 'query'>,
  placeId: string,
  fromMs: number,
  toMs: number,
): Promise<string> {
  const { rows } = await db.query<{ stamp: string }>(STAMP, [placeId, fromMs, toMs], {
    name: 'api_place_settled_day_stamp',
  });
  return rows[0]?.stamp ?? '';
}

const SUPPRESSED_ANSWER: Gated = Object.freeze({ devices: null, suppressed: true });
/** A block's cache key; the version is in it, so that an update is a new entry. */
const blockKey = (placeId: string, version: number, dayMs: number, untilMs: number) =>
  `${placeId}|${version}|${dayMs}|${untilMs}`;

export class SettledPlaceCounts {
  readonly #db: Pick<Database, 'query'>;
  readonly #cache: ReadCache<DayBlock>;
  readonly #bucketMs: number;
  readonly #k: number;
  readonly #zero: Gated;

  constructor(db: Pick<Database, 'query'>, cache: ReadCache<DayBlock>, bucketMs: number, k: number) {
    this.#db = db;
    this.#cache = cache;
    this.#bucketMs = bucketMs;
    this.#k = k;
    this.#zero = this.#gate(0);
  }

  /** Whether every bucket in [fromMs, toMs) is settled and within (at most two) day blocks. */
  covers(fromMs: number, toMs: number, now: number): boolean {
    if (DAY_MS % this.#bucketMs !== 0 || HOUR_MS % this.#bucketMs !== 0 || toMs <= fromMs) return false;
    const firstDay = Math.floor(fromMs / DAY_MS);
    const lastDay = Math.floor((toMs - 1) / DAY_MS);
    return lastDay - firstDay <= 1 && toMs <= settledEdge(now);
  }

  /**
   * The gated peak per step over buckets starting in [startMs, toMs) (step i holds the buckets in
   * [startMs + i·step, startMs + (i+1)·step)), exactly `kAnonymize(peak ?? 0)`: the peak of gated counts
   * is the gated peak, because the threshold keeps the maximum whenever the maximum passes it. Undefined
   * when a block is off the bucket grid (the caller reads PostgreSQL instead). Call only when `covers`.
   */
  async series(
    placeId: string,
    version: number,
    startMs: number,
    toMs: number,
    stepMs: number,
  ): Promise<Gated[] | undefined> {
    const edge = settledEdge(Date.now());
    const blocks: DayBlock[] = [];
    for (let day = Math.floor(startMs / DAY_MS); day * DAY_MS < toMs; day++) {
      // A past day whole; the current one up to the settled edge (a new key each hour).
      blocks.push(await this.#block(placeId, version, day * DAY_MS, Math.min((day + 1) * DAY_MS, edge)));
    }
    return this.#peaks(blocks, startMs, toMs, stepMs);
  }

  /**
   * `series` from blocks held fresh, without a promise (the hot path of the place routes); undefined
   * when a block is not held fresh or is off the grid (then `series` answers).
   */
  seriesNow(
    placeId: string,
    version: number,
    startMs: number,
    toMs: number,
    stepMs: number,
  ): Gated[] | undefined {
    const edge = settledEdge(Date.now());
    const blocks: DayBlock[] = [];
    for (let day = Math.floor(startMs / DAY_MS); day * DAY_MS < toMs; day++) {
      const block = this.#cache.peek(
        blockKey(placeId, version, day * DAY_MS, Math.min((day + 1) * DAY_MS, edge)),
      );
      if (block === undefined) return undefined;
      blocks.push(block);
    }
    return this.#peaks(blocks, startMs, toMs, stepMs);
  }

  /** The gated peaks per step from the blocks of the days from startMs's on (see `series`). */
  #peaks(blocks: DayBlock[], startMs: number, toMs: number, stepMs: number): Gated[] | undefined {
    const b = this.#bucketMs;
    const n = Math.ceil((toMs - startMs) / stepMs);
    const peaks = new Array<number>(n).fill(ABSENT);
    const firstDay = Math.floor(startMs / DAY_MS);
    for (let d = 0; d < blocks.length; d++) {
      const block = blocks[d] as DayBlock;
      const dayMs = (firstDay + d) * DAY_MS;
      const from = Math.max(startMs, dayMs);
      const to = Math.min(toMs, dayMs + DAY_MS);
      // Off the grid, or the edge moved back (a clock step): PostgreSQL answers.
      if (block.values === undefined || to > block.untilMs) return undefined;
      // Buckets on the grid only: startMs is a bucket start (the caller aligns it).
      for (let t = from; t < to; t += b) {
        const v = block.values[(t - dayMs) / b] ?? ABSENT;
        const i = Math.floor((t - startMs) / stepMs);
        if (v > (peaks[i] ?? ABSENT)) peaks[i] = v;
      }
    }
    return peaks.map((v) =>
      v === ABSENT ? this.#zero : v === SUPPRESSED ? SUPPRESSED_ANSWER : this.#gate(v),
    );
  }

  #gate(n: number): Gated {
    const devices = kAnonymize(n, this.#k);
    return { devices, suppressed: devices === null };
  }

  #block(placeId: string, version: number, dayMs: number, untilMs: number): Promise<DayBlock> {
    // A reload (API_PLACES_SETTLED_CACHE_MS) first reads the stamp: unchanged rows keep the block as is,
    // so the 1 000 busy places of a minute cost 1 000 one-row probes instead of 1.4 M rows to parse (in
    // the benchmark these reloads landed inside the measured load: docs/places.md, "Performance").
    return this.#cache.get(blockKey(placeId, version, dayMs, untilMs), async (previous) => {
      const stamp = await this.#stamp(placeId, dayMs, untilMs);
      if (previous !== undefined && previous.stamp === stamp) return previous;
      // Rows read after their stamp: a change in between shows as a changed stamp at the next probe.
      const { rows } = await this.#db.query<{ t: number; devices: number }>(
        `SELECT (extract(epoch FROM bucket_start) * 1000)::float8 AS t, devices FROM place_occupancy
          WHERE place_id = $1 AND bucket_start >= ${TS('$2')} AND bucket_start < ${TS('$3')}`,
        [placeId, dayMs, untilMs],
        { name: 'api_place_settled_day' },
      );
      const values = new Int32Array(DAY_MS / this.#bucketMs).fill(ABSENT);
      for (const r of rows) {
        const offset = Math.round(r.t) - dayMs;
        if (offset % this.#bucketMs !== 0) return { values: undefined, untilMs, stamp };
        // Gated here: the block never holds a count below K_ANONYMITY.
        values[offset / this.#bucketMs] = kAnonymize(r.devices, this.#k) ?? SUPPRESSED;
      }
      return { values, untilMs, stamp };
    });
  }

  #stamp(placeId: string, dayMs: number, untilMs: number): Promise<string> {
    return placeCountsStamp(this.#db, placeId, dayMs, untilMs);
  }
}
