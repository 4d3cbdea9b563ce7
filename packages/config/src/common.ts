import { v } from './env.ts';

/** Kafka authentication (the production cluster requires SCRAM; the local broker needs none). */
export const kafkaAuthSpec = {
  kafkaSaslMechanism: v.oneOf(
    'KAFKA_SASL_MECHANISM',
    ['none', 'PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'],
    'none',
    'SASL mechanism',
  ),
  kafkaSaslUsername: v.optionalString('KAFKA_SASL_USERNAME', 'SASL user (KafkaUser name)'),
  kafkaSaslPassword: v.optionalString('KAFKA_SASL_PASSWORD', 'SASL password'),
  kafkaTls: v.bool('KAFKA_TLS', false, 'connect to Kafka over TLS'),
};

/** Variables every service shares; apps spread this into their own spec. */
export const commonSpec = {
  ...kafkaAuthSpec,
  logLevel: v.oneOf(
    'LOG_LEVEL',
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    'info',
    'log level',
  ),
  kafkaBootstrap: v.list('KAFKA_BOOTSTRAP', ['127.0.0.1:9092'], 'comma-separated Kafka bootstrap brokers'),
  cellResolution: v.int('CELL_RESOLUTION', 10, 'H3 resolution of a location', 0, 15),
  regionResolution: v.int('REGION_RESOLUTION', 5, 'H3 resolution of a region (partition key)', 0, 15),
  bucketMs: v.int('BUCKET_MS', 60_000, 'occupancy time bucket, ms', 1_000, 86_400_000),
};

/** Topic names are configurable so tests (and blue/green migrations) can use their own. */
export const topicSpec = {
  topicIngestion: v.string('TOPIC_INGESTION', 'ingestion', 'topic of accepted pings'),
  topicAggregated: v.string('TOPIC_AGGREGATED', 'aggregated', 'topic of aggregate updates'),
};

/** The compacted erasure log (docs/privacy.md), read by ingest and the processor, written by the API. */
export const erasureTopicSpec = {
  topicErasures: v.string('TOPIC_ERASURES', 'erasures', 'compacted topic of erased device ids'),
};

/** The compacted log of named place definitions (docs/places.md), written by the API, read by the processor. */
export const placesTopicSpec = {
  topicPlaces: v.string('TOPIC_PLACES', 'places', 'compacted topic of named place definitions'),
};
