export { ERASURE_ERRORS, ErasureError, type ErasureErrorCode } from './errors.ts';
export {
  AGGREGATED_TAIL_MS,
  INGESTION_TAIL_MS,
  type NotErasedInput,
  type NotErasedItem,
  notErasedReport,
} from './not-erased.ts';
export { ErasureNotifier, type ErasureNotifierOptions } from './notifier.ts';
export { ErasurePublisher, type ErasurePublisherOptions } from './publisher.ts';
export {
  type ErasureRecordSource,
  reconcileErasures,
  recordedErasures,
} from './reconcile.ts';
export { decodeErasure, type Erasure, encodeErasure } from './record.ts';
export {
  deletedByMs,
  describeRetention,
  RETENTION_CHECK_INTERVAL_MS,
  type TopicRetention,
} from './retention.ts';
export { ErasureTable, type ErasureTableOptions, type ErasureView } from './table.ts';
export { erasuresTopicSpec, TOPIC_ERASURES } from './topic.ts';
