export { BatchLoop, type BatchLoopOptions } from './batch-loop.ts';
export { loadSinkConfig, type SinkConfig, sinkSpec } from './config.ts';
export { SINK_ERRORS, SinkError, type SinkErrorCode } from './errors.ts';
export { dayOf, PartitionManager } from './partitions.ts';
export { type BatchPlan, parseKey, planBatch } from './records.ts';
export { type Sink, type StartSinkOptions, startSink } from './sink.ts';
export { isBrokerUnreachable, isFatalKafkaError, type Msg, SinkSubscription } from './subscription.ts';
export { writeBatch } from './writer.ts';
