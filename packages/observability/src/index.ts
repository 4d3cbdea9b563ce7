export type { ConsumerLivenessOptions, LivenessStatus } from './consumer-liveness.ts';
export { ConsumerLiveness } from './consumer-liveness.ts';
export type { Logger } from './logger.ts';
export { createLogger } from './logger.ts';
export { createRegistry } from './metrics.ts';
export type { LivenessCheck, OpsServerOptions, ReadinessCheck } from './ops-server.ts';
export { OpsServer } from './ops-server.ts';
export type { ProcessGuard, ProcessGuardOptions } from './process-guard.ts';
export { installProcessGuard } from './process-guard.ts';
