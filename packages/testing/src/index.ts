export { childPids, killBroker } from './faults.ts';
export { kafkaBootstrap, uniqueTopics } from './kafka.ts';
export { mulberry32 } from './random.ts';
export { waitFor } from './wait-for.ts';
