import { assertNodeVersion } from '@footfall/config';
import { createLogger } from '@footfall/observability';
import { loadApiConfig } from './config.ts';
import { startApi } from './server.ts';

assertNodeVersion();
const config = loadApiConfig();
const logger = createLogger('api', config.logLevel);
const api = await startApi(config, { logger });
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'shutting down');
    api.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
