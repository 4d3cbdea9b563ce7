// Entry point: `node apps/ingest/src/main.ts` (config from the environment, docs/ingest.md).

import cluster from 'node:cluster';
import { assertNodeVersion } from '@footfall/config';
import { createLogger, createRegistry } from '@footfall/observability';
import { reportToPrimary, runPrimary, workerCount } from './cluster.ts';
import { loadIngestConfig } from './config.ts';
import { startIngest } from './service.ts';

assertNodeVersion();
const config = loadIngestConfig();
const logger = createLogger('ingest', config.logLevel);
const workers = workerCount(config);
if (workers > 1 && cluster.isPrimary) {
  await runPrimary(config, logger, workers);
  process.exit(0);
}
const registry = createRegistry('ingest');
const ingest = await startIngest(config, { logger, registry, opsServer: !cluster.isWorker });
if (cluster.isWorker) reportToPrimary(ingest, registry);

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
