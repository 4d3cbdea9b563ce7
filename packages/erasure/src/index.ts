export { ERASURE_ERRORS, ErasureError, type ErasureErrorCode } from './errors.ts';
export { ErasurePublisher, type ErasurePublisherOptions } from './publisher.ts';
export { decodeErasure, type Erasure, encodeErasure } from './record.ts';
export { ErasureTable, type ErasureTableOptions, type ErasureView } from './table.ts';
export { erasuresTopicSpec, TOPIC_ERASURES } from './topic.ts';
