export type { Logger } from './logger.ts';
export { createLogger } from './logger.ts';
export { createRegistry } from './metrics.ts';
export type { OpsServerOptions, ReadinessCheck } from './ops-server.ts';
export { OpsServer } from './ops-server.ts';
