// Public face of the generated protobuf contracts (ts-proto; regenerate with `npm run gen`).

export {
  type AggregatedKey,
  formatAggregatedKey,
  type OccupancyKey,
  occupancyKey,
  type PlaceOccupancyKey,
  parseAggregatedKey,
  placeOccupancyKey,
  type VisitKey,
  visitKey,
} from './aggregated-key.ts';
export {
  Activity,
  EnrollRequest,
  EnrollResponse,
  Ping,
  PingBatch,
  RejectedPing,
  RejectReason,
  UploadRequest,
  UploadResponse,
} from './gen/footfall/ingest/v1/ingest.ts';
export {
  AggregateRecord,
  LiveOccupancy,
  Occupancy,
  PingRecord,
  Visit,
} from './gen/footfall/pipeline/v1/pipeline.ts';
export { LivePlaceOccupancy, PlaceDefinition, PlaceOccupancy } from './gen/footfall/places/v1/places.ts';
export {
  isLiveOccupancyKey,
  isLivePlaceOccupancyKey,
  type LiveOccupancyKey,
  type LivePlaceOccupancyKey,
  liveOccupancyKey,
  livePlaceOccupancyKey,
  parseLiveOccupancyKey,
  parseLivePlaceOccupancyKey,
} from './live-key.ts';
