export {
  type OccInput,
  occRecord,
  type PlaceOccInput,
  placeOccRecord,
  produce,
  type TestRecord,
  tombstone,
  type VisitInput,
  visitRecord,
} from './aggregated.ts';
export { CENTRES } from './cities.ts';
export { createTemporaryDatabase, DEFAULT_ADMIN_URL, type TemporaryDatabase } from './database.ts';
export { childPids, killBroker } from './faults.ts';
export { kafkaBootstrap, uniqueTopics, waitForGroupCoordinator } from './kafka.ts';
export { findPostgresBin, PrivatePostgres } from './private-postgres.ts';
export { mulberry32 } from './random.ts';
export { testSeed, withSeed } from './seed.ts';
export { type ServiceName, ServiceProcess } from './service-process.ts';
export { waitFor } from './wait-for.ts';
