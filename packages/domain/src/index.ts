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
  completenessAt,
  DELAY_BIN_EDGES_MS,
  DelayProfile,
  delayCdfAt,
} from './delay-profile.ts';
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
export { LiveEdge, type LiveEdgeOptions, type LiveNowcast, type LiveOccupancyUpdate } from './live-edge.ts';
export { LivePlaceEdge, type LivePlaceOccupancyUpdate } from './live-place-edge.ts';
export {
  type CountParts,
  DEFAULT_NOWCAST_MODEL_OPTIONS,
  type NowcastEstimate,
  NowcastModel,
  type NowcastModelOptions,
} from './nowcast.ts';
export {
  MAX_PLACE_VERTICES,
  type PlaceCells,
  type PlaceGeometry,
  PlaceGeometryError,
  type PlaceGeometryErrorKind,
  placeBBox,
  placeCells,
  validatePlaceGeometry,
} from './place-geometry.ts';
export { type PlaceDef, PlaceIndex } from './place-index.ts';
export {
  type PlaceOccupancyUpdate,
  PlaceTracker,
  type PresenceObserver,
  type PresenceSource,
} from './place-occupancy.ts';
export {
  DWELL_BUCKETS,
  type DwellSummary,
  dwellSummary,
  type PlaceVisit,
  placeVisits,
} from './place-visits.ts';
export {
  BUSIER_RATIO,
  HOUR_MS,
  hourOfWeek,
  type LiveStatus,
  liveStatus,
  QUIETER_AFTER_MS,
  QUIETER_RATIO,
  type UsualHour,
  usualWeek,
  WEEK_MS,
} from './popular-times.ts';
export { DEFAULT_K_ANONYMITY, kAnonymize } from './privacy.ts';
export { type PublishedLiveOccupancy, publishLiveOccupancy } from './publish-live.ts';
export { type CellCount, compareCellCounts, mergeTopK, topK } from './top-k.ts';
export { compareVisits, mergeOverlappingVisits, timeSpentMs, type VisitInterval } from './visits.ts';
export { idleWatermarkMs } from './watermark.ts';
