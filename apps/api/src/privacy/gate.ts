// THE public-count gate: every number derived from occupancy that leaves the API (REST occupancy, series,
// popular, the live stream, and any later route: places, nowcast, alerts, exports) is read through ONE
// PublicCountGate, chosen once by PRIVACY_MODE (docs/privacy.md):
//   • k-anonymity: raw counts, suppressed below K_ANONYMITY (kAnonymize from @footfall/domain);
//   • dp: stored differentially private releases (release-store.ts), charged to the budget ledger.
// A route never reads `occupancy` for a public answer itself. In both modes "no value" (null / absent)
// is the same answer for an empty cell and for a withheld one.

import type { Database } from '@footfall/db';
import {
  type CellCount,
  cryptoRandomSource,
  dpMechanism,
  kAnonymize,
  type RandomSource,
} from '@footfall/domain';
import type { ApiConfig } from '../config.ts';
import { occupancyLoader, seriesLoader, topKLoader } from '../loaders.ts';
import { type PopularQuery, popular } from '../queries.ts';
import { ReleaseStore } from './release-store.ts';

/**
 * Query families, as booked in the budget ledger: the family whose question triggered a release. Other
 * routes add their own name (e.g. 'places', 'nowcast', 'alerts').
 */
export type QueryFamily = 'occupancy' | 'series' | 'popular' | 'live' | (string & {});

export interface SeriesQuery {
  cell: string;
  /** Bucket-aligned start (inclusive), ms. */
  fromMs: number;
  toMs: number;
  stepMs: number;
}

export interface PublicCountGate {
  readonly mode: 'k-anonymity' | 'dp';
  /** The k-anonymity threshold reported in answers (K_ANONYMITY; informational in dp mode). */
  readonly kAnonymity: number;
  /** Public count of each (cell at CELL_RESOLUTION, bucket start): a number, or null (withheld or empty). */
  counts(family: QueryFamily, keys: readonly { cell: string; b: number }[]): Promise<(number | null)[]>;
  /** Public peak per step (index → count); a step without a public count is absent. */
  series(family: QueryFamily, q: SeriesQuery): Promise<Map<number, number>>;
  /** Public top-K of a bucket (filters and roll-ups applied to public values only). */
  topK(family: QueryFamily, q: Omit<PopularQuery, 'minDevices' | 'source'>): Promise<CellCount[]>;
  /**
   * The latest bucket whose public values are final at `nowMs`: the current bucket in k-anonymity mode
   * (values may still change), the newest releasable bucket in dp mode (DP_RELEASE_DELAY_MS behind).
   */
  liveBucket(nowMs: number): number;
}

/** The k-anonymity gate: raw counts below K are answered like empty cells. */
export function kAnonymityGate(
  config: Pick<ApiConfig, 'kAnonymity' | 'bucketMs'>,
  db: Database,
): PublicCountGate {
  const points = occupancyLoader(db);
  const series = seriesLoader(db);
  const top = topKLoader(db, config.kAnonymity);
  const k = config.kAnonymity;
  return {
    mode: 'k-anonymity',
    kAnonymity: k,
    async counts(_family, keys) {
      const raw = await points.loadMany(keys);
      return raw.map((n) => {
        if (n instanceof Error) throw n;
        return kAnonymize(n, k);
      });
    },
    async series(_family, q) {
      const peaks = await series.load(q);
      const out = new Map<number, number>();
      for (const [i, n] of peaks) if (kAnonymize(n, k) !== null) out.set(i, n);
      return out;
    },
    topK: (_family, q) => popular(db, { ...q, minDevices: k }, top),
    liveBucket: (nowMs) => Math.floor(nowMs / config.bucketMs) * config.bucketMs,
  };
}

/** The dp gate: answers only from stored releases; a question needing a new release may be refused. */
export function dpGate(
  config: ApiConfig,
  db: Database,
  random: RandomSource = cryptoRandomSource(),
): PublicCountGate {
  const bucketMs = config.bucketMs;
  const store = new ReleaseStore({
    db,
    bucketMs,
    random,
    mechanism: dpMechanism({
      epsilon: config.dpEpsilonPerRelease,
      delta: config.dpDeltaPerRelease,
      maxCellsPerBucket: config.dpMaxCellsPerBucket,
    }),
    budget: { epsilonPerDay: config.dpEpsilonPerDay, deltaPerDay: config.dpDeltaPerDay },
  });
  // A bucket is released once it is DP_RELEASE_DELAY_MS past its end (so late pings have landed); before
  // that it has no public value (answered like an empty cell, at no cost).
  const releasable = (b: number) => b + bucketMs + config.dpReleaseDelayMs <= Date.now();
  return {
    mode: 'dp',
    kAnonymity: config.kAnonymity,
    async counts(family, keys) {
      await store.ensureReleased(family, keys.map((k) => k.b).filter(releasable));
      const values = await store.counts(keys);
      return values.map((v, i) => (releasable((keys[i] as { b: number }).b) ? v : null));
    },
    async series(family, q) {
      const buckets: number[] = [];
      for (let b = q.fromMs; b < q.toMs; b += bucketMs) if (releasable(b)) buckets.push(b);
      await store.ensureReleased(family, buckets);
      return store.series(q);
    },
    async topK(family, q) {
      if (!releasable(q.bucketStartMs)) return [];
      await store.ensureReleased(family, [q.bucketStartMs]);
      return popular(db, { ...q, minDevices: 0, source: 'dp_releases' });
    },
    liveBucket: (nowMs) => Math.floor((nowMs - bucketMs - config.dpReleaseDelayMs) / bucketMs) * bucketMs,
  };
}

/** The gate of PRIVACY_MODE. */
export function createGate(config: ApiConfig, db: Database, random?: RandomSource): PublicCountGate {
  return config.privacyMode === 'dp' ? dpGate(config, db, random) : kAnonymityGate(config, db);
}
