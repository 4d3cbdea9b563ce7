export {
  type OccInput,
  occRecord,
  produce,
  type TestRecord,
  tombstone,
  type VisitInput,
  visitRecord,
} from './aggregated.ts';
export { CENTRES } from './cities.ts';
export { createTemporaryDatabase, DEFAULT_ADMIN_URL, type TemporaryDatabase } from './database.ts';
export { kafkaBootstrap, uniqueTopics } from './kafka.ts';
export { mulberry32 } from './random.ts';
export { testSeed, withSeed } from './seed.ts';
export { waitFor } from './wait-for.ts';
