import { assertNodeVersion } from '@footfall/config';
import { createLogger, installProcessGuard } from '@footfall/observability';
import { loadApiConfig } from './config.ts';
import { type Api, startApi } from './server.ts';

assertNodeVersion();
const config = loadApiConfig();
const logger = createLogger('api', config.logLevel);
let api: Api | undefined;
// SIGTERM/SIGINT drain; an uncaught error is logged, counted and exits 1 (never swallowed).
installProcessGuard({ logger, close: async () => api?.close() });
api = await startApi(config, { logger });
