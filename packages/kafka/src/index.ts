export type { BrokerTimings, LocalBrokerOptions, TopicSpec } from './local-broker.ts';
export {
  checkJavaAndMaven,
  createTopics,
  ensureKafkaJars,
  freePort,
  LocalBroker,
  LocalBrokerError,
  startLocalBroker,
} from './local-broker.ts';
export { footfallTopics, TOPIC_AGGREGATED, TOPIC_INGESTION } from './topics.ts';
