// Entry point: `node apps/ingest/src/main.ts` (config from the environment, docs/ingest.md).

import { assertNodeVersion } from '@footfall/config';
import { createLogger } from '@footfall/observability';
import { loadIngestConfig } from './config.ts';
import { startIngest } from './service.ts';

assertNodeVersion();
const config = loadIngestConfig();
const logger = createLogger('ingest', config.logLevel);
const ingest = await startIngest(config, { logger });

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    ingest.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
