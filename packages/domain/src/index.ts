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
  completenessAt,
  DELAY_BIN_EDGES_MS,
  DelayProfile,
  delayCdfAt,
} from './delay-profile.ts';
export { LiveEdge, type LiveEdgeOptions, type LiveOccupancyUpdate } from './live-edge.ts';
export {
  type CountParts,
  DEFAULT_NOWCAST_MODEL_OPTIONS,
  type NowcastEstimate,
  NowcastModel,
  type NowcastModelOptions,
} from './nowcast.ts';
export { DEFAULT_K_ANONYMITY, kAnonymize } from './privacy.ts';
export { type PublishedLiveOccupancy, publishLiveOccupancy } from './publish-live.ts';
export { type CellCount, compareCellCounts, mergeTopK, topK } from './top-k.ts';
export { compareVisits, mergeOverlappingVisits, timeSpentMs, type VisitInterval } from './visits.ts';
export { idleWatermarkMs } from './watermark.ts';
