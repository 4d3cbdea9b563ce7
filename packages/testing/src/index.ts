export { kafkaBootstrap, uniqueTopics } from './kafka.ts';
export { waitFor } from './wait-for.ts';
