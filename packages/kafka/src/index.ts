export {
  type CompactedTableLogger,
  CompactedTopicError,
  CompactedTopicReader,
  type CompactedTopicReaderOptions,
} from './compacted-table.ts';
export type { KafkaConnectionConfig } from './connection.ts';
export { kafkaClientOptions } from './connection.ts';
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
export {
  isControlBatch,
  KafkaErrorCodes,
  KafkaOffsetsError,
  lastStableOffset,
  offsetForTimestamp,
  recordTimestamp,
  stableCommittedOffsets,
} from './offsets.ts';
export { javaPartition, murmur2 } from './partition.ts';
export type { ConsumerPerfResult, ProducerPerfResult } from './perf-tools.ts';
export { consumerPerformance, producerPerformance } from './perf-tools.ts';
export {
  footfallTopics,
  INGESTION_RETENTION_MS,
  INGESTION_SEGMENT_MS,
  TOPIC_AGGREGATED,
  TOPIC_ERASURES,
  TOPIC_INGESTION,
  TOPIC_PLACES,
} from './topics.ts';
