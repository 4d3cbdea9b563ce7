// Public face of @footfall/loadgen: the cheap load generator (pre-signed batches, raw HTTP/2 gRPC from
// worker threads, open-loop steps) for benches and tests.
export type { BuiltBatch, DeviceCredentials, Spot } from './batches.ts';
export { BatchFactory } from './batches.ts';
export type { LoadgenConfig } from './config.ts';
export { loadgenSpec, loadLoadgenConfig, parseSteps } from './config.ts';
export { EnrollError, enrollDevices } from './enroll.ts';
export type { CallOutcome } from './grpc-h2.ts';
export { grpcFrame, unaryCall, unaryCallAsync } from './grpc-h2.ts';
export type { WorkerCounters } from './protocol.ts';
export type { LatencyMs, LoadOptions, LoadResult, LoadStep, SecondReport, StepReport } from './run.ts';
export { runLoad } from './run.ts';
export { citySpots } from './spots.ts';
