export { decodePing, encodeOccupancy, encodeVisit, occupancyKey, visitKey } from './codec.ts';
export { loadProcessorConfig, type ProcessorConfig, processorSpec, restoreHorizonMs } from './config.ts';
export { ProcessorError, type ProcessorErrorCode } from './errors.ts';
export { createProcessorMetrics, EMIT_LATENCY_BUCKETS, type ProcessorMetrics } from './metrics.ts';
export type { CommitPoint, ProcessorOptions, ProcessorProgress } from './options.ts';
export { Processor } from './processor.ts';

import type { ProcessorConfig } from './config.ts';
import type { ProcessorOptions } from './options.ts';
import { Processor } from './processor.ts';

/** A running processor: `close()` commits the last batch and leaves the group. */
export interface ProcessorHandle {
  readonly processor: Processor;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts a processor in-process (dev stack, tests, bench). */
export async function startProcessor(
  config: ProcessorConfig,
  options: ProcessorOptions = {},
): Promise<ProcessorHandle> {
  const processor = new Processor(config, options);
  try {
    await processor.start();
  } catch (error) {
    await processor.close().catch(() => {});
    throw error;
  }
  return {
    processor,
    close: () => processor.close(),
    [Symbol.asyncDispose]: () => processor.close(),
  };
}
