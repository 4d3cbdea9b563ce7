import type { PlaceOccupancyUpdate } from './place-occupancy.ts';

// The aggregator's public types and options (docs/insights.md has the definitions).

import { type BoundingOptions, checkBoundingOptions } from './contribution-bounding.ts';

/** Options of a {@link PartitionAggregator}. See docs/insights.md for the definitions. */
export interface AggregatorOptions {
  /** Occupancy bucket length in ms (`BUCKET_MS`, default 60 000). */
  readonly bucketMs: number;
  /** Max gap in ms between two pings of one stay; presence is carried across it (default 600 000). */
  readonly presenceMaxGapMs: number;
  /** Watermark = max event time − this, in ms; older pings are dropped as late (default 3 600 000). */
  readonly allowedLatenessMs: number;
  /** Visits shorter than this (end − start, ms) are not reported (default 300 000). */
  readonly minVisitMs: number;
  /** Pings with a worse (larger) accuracy radius, in metres, are ignored (default 100). */
  readonly maxAccuracyM: number;
  /** H3 grid distance (rings) within which a ping is attributed to the stay's anchor cell (default 1). */
  readonly jitterRing: number;
  /** H3 resolution of the region of a cell (default 5). */
  readonly regionResolution: number;
  /**
   * Differential-privacy mode: occupancy counts are bounded per device (at most C cells per bucket, one
   * visit per cell per hour; contribution-bounding.ts). Undefined (default) → plain distinct counts.
   */
  readonly contributionBounds?: BoundingOptions | undefined;
}

/** Defaults of {@link AggregatorOptions}. */
export const DEFAULT_AGGREGATOR_OPTIONS: AggregatorOptions = Object.freeze({
  bucketMs: 60_000,
  presenceMaxGapMs: 600_000,
  allowedLatenessMs: 3_600_000,
  minVisitMs: 300_000,
  maxAccuracyM: 100,
  jitterRing: 1,
  regionResolution: 5,
});

/** One ping as consumed from `ingestion` (the cell at CELL_RESOLUTION is computed at ingestion). */
export interface PingEvent {
  pingId: string;
  deviceId: string;
  /** Event time, ms since the epoch. */
  eventTimeMs: number;
  /** H3 cell at CELL_RESOLUTION. */
  cell: string;
  /** Horizontal accuracy radius, metres. */
  accuracyM: number;
  /** When ingest accepted the ping (ms since the epoch); feeds the live edge's upload-delay profile. */
  receivedAtMs?: number;
}

/** Outcome of {@link PartitionAggregator.add}. */
export type AddResult = 'accepted' | 'duplicate' | 'late' | 'inaccurate';

/** Latest value of occupancy(cell, bucket); may go down after an out-of-order ping (upsert, not max). */
export interface OccupancyUpdate {
  cell: string;
  region: string;
  bucketStartMs: number;
  /** Distinct devices present. */
  devices: number;
  /** Accepted pings attributed to this cell and bucket (diagnostics). */
  pings: number;
}

/** Latest value of a visit keyed by (deviceId, cell, startMs). */
export interface VisitUpdate {
  deviceId: string;
  cell: string;
  region: string;
  startMs: number;
  endMs: number;
  pings: number;
  /** True once the visit can no longer change; emitted once, then never again. */
  closed: boolean;
  /**
   * True when a previously emitted (open) visit no longer exists after re-deriving the device's stays
   * (out-of-order ping): delete the key (Kafka tombstone). endMs/pings repeat the last emitted values.
   */
  retracted: boolean;
}

/** Everything that changed since the previous drain, in the order it happened (latest per key wins). */
export interface AggregatorUpdates {
  occupancy: OccupancyUpdate[];
  visits: VisitUpdate[];
  /** Named places' counts, when a place tracker observes the aggregator (docs/places.md). */
  places?: PlaceOccupancyUpdate[];
}

/** Counters and state sizes of a {@link PartitionAggregator}. */
export interface AggregatorStats {
  /** Devices with state. */
  devices: number;
  /** Distinct bucket starts held. */
  openBuckets: number;
  /** (cell, bucket) entries held. */
  openCellBuckets: number;
  /** Accepted pings held in per-device histories (within lateness). */
  windowPings: number;
  dedupIds: number;
  accepted: number;
  lateDropped: number;
  duplicates: number;
  inaccurate: number;
  /** Max event time − allowed lateness, ms; null before the first ping. */
  watermarkMs: number | null;
}

/** Throws a RangeError naming the first invalid option. */
export function checkOptions(o: AggregatorOptions): void {
  const positive = ['bucketMs', 'presenceMaxGapMs', 'allowedLatenessMs', 'maxAccuracyM'] as const;
  for (const k of positive) {
    if (!(Number.isFinite(o[k]) && o[k] > 0)) throw new RangeError(`${k} must be > 0, got ${o[k]}`);
  }
  if (!(Number.isFinite(o.minVisitMs) && o.minVisitMs >= 0)) throw new RangeError('minVisitMs must be >= 0');
  if (!(Number.isInteger(o.jitterRing) && o.jitterRing >= 0)) throw new RangeError('jitterRing must be >= 0');
  if (!(Number.isInteger(o.regionResolution) && o.regionResolution >= 0 && o.regionResolution <= 15)) {
    throw new RangeError('regionResolution must be 0..15');
  }
  if (o.contributionBounds) checkBoundingOptions(o.contributionBounds);
}
