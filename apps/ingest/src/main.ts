// Entry point: `node apps/ingest/src/main.ts` (config from the environment, docs/ingest.md).

import cluster from 'node:cluster';
import { assertNodeVersion } from '@footfall/config';
import { createLogger, createRegistry, installProcessGuard } from '@footfall/observability';
import { reportToPrimary, runPrimary, workerCount } from './cluster.ts';
import { loadIngestConfig } from './config.ts';
import { type IngestHandle, startIngest } from './service.ts';

assertNodeVersion();
const config = loadIngestConfig();
const logger = createLogger('ingest', config.logLevel);
const workers = workerCount(config);
if (workers > 1 && cluster.isPrimary) {
  // The primary only supervises (it handles SIGTERM itself and drains its workers).
  await runPrimary(config, logger, workers);
  process.exit(0);
}
const registry = createRegistry('ingest');
let ingest: IngestHandle | undefined;
// SIGTERM/SIGINT drain; an uncaught error is logged, counted and exits 1 (never swallowed).
installProcessGuard({ logger, registry, close: async () => ingest?.close() });
ingest = await startIngest(config, { logger, registry, opsServer: !cluster.isWorker });
if (cluster.isWorker) reportToPrimary(ingest, registry);
