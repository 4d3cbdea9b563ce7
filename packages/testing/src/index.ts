export { childPids, killBroker } from './faults.ts';
export { kafkaBootstrap, uniqueTopics } from './kafka.ts';
export { findPostgresBin, PrivatePostgres } from './private-postgres.ts';
export { mulberry32 } from './random.ts';
export { waitFor } from './wait-for.ts';
