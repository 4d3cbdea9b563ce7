// Public face of @footfall/simulator: a synthetic city, devices with schedules and phone behaviour, and
// the ground truth (exact expectation + physical truth) to check the pipeline against.

export type { City, CityOptions, Place, PlaceKind, StadiumEvent } from './city.ts';
export { createCity, DEFAULT_CITY_COUNTS, placeCells } from './city.ts';
export type { LatLon } from './geo.ts';
export { distanceM, offsetM } from './geo.ts';
export type {
  AccuracyReport,
  ExpectedVisit,
  GroundTruthOptions,
  MeasuredAnswers,
  Tolerances,
} from './ground-truth.ts';
export { DEFAULT_TOLERANCES, GroundTruth } from './ground-truth.ts';
export type { HistoryOptions, HistoryResult } from './history.ts';
export { backfillHistory } from './history.ts';
export type { IngestUploaderOptions } from './ingest-uploader.ts';
export { createIngestUploader, IngestUploader } from './ingest-uploader.ts';
export type { PhoneOptions, PingTruth, UploadBatch } from './phone.ts';
export { ACCURACY_TO_SIGMA, DEFAULT_PHONE_OPTIONS } from './phone.ts';
export { hash32, Rng } from './random.ts';
export type { RegisteredPlace } from './register-places.ts';
export { PUBLIC_PLACE_KINDS, registerCityPlaces } from './register-places.ts';
export type { Progress, RunOptions, RunResult, RunStats } from './run.ts';
export { runSimulation } from './run.ts';
export type { MoveSegment, Profile, ScheduleOptions, Segment, StaySegment, TravelMode } from './schedule.ts';
export { DEFAULT_SCHEDULE_OPTIONS, localClock, localOffsetFor, positionAt } from './schedule.ts';
export type { SimDevice, SimulateOptions, SimulationPlan } from './timeline.ts';
export { planSimulation, simDeviceId, simulate, timeline } from './timeline.ts';
export type { PingUploader, RecordedUpload, RejectedPingInfo, UploadOutcome } from './uploader.ts';
export { acceptedPings, InMemoryUploader } from './uploader.ts';
