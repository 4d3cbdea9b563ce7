export { PartitionAggregator } from './aggregator.ts';
export {
  type AddResult,
  type AggregatorOptions,
  type AggregatorStats,
  type AggregatorUpdates,
  DEFAULT_AGGREGATOR_OPTIONS,
  type OccupancyUpdate,
  type PingEvent,
  type VisitUpdate,
} from './aggregator-types.ts';
export { bucketStart, bucketsOverlapping, DEFAULT_BUCKET_MS } from './buckets.ts';
export {
  cellOf,
  DEFAULT_CELL_RESOLUTION,
  DEFAULT_REGION_RESOLUTION,
  isValidCell,
  regionOf,
  rollUpCell,
} from './cells.ts';
export {
  type BoundingOptions,
  type BucketPresence,
  boundedCounts,
  DEFAULT_VISIT_WINDOW_MS,
} from './contribution-bounding.ts';
export {
  bernoulliExp,
  discreteGaussianVariance,
  discreteLaplaceVariance,
  type Rational,
  rationalOf,
  sampleDiscreteGaussian,
  sampleDiscreteLaplace,
} from './dp-noise.ts';
export { cryptoRandomSource, type RandomSource, seededRandomSource } from './dp-random.ts';
export {
  type DpMechanism,
  type DpReleaseParams,
  dpMechanism,
  type NoisyCount,
  releaseCounts,
} from './dp-release.ts';
export { DEFAULT_K_ANONYMITY, kAnonymize } from './privacy.ts';
export { type CellCount, compareCellCounts, mergeTopK, topK } from './top-k.ts';
export { compareVisits, mergeOverlappingVisits, timeSpentMs, type VisitInterval } from './visits.ts';
export { idleWatermarkMs } from './watermark.ts';
