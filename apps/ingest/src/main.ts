// Entry point: `node apps/ingest/src/main.ts` (config from the environment, docs/ingest.md).

import { assertNodeVersion } from '@footfall/config';
import { createLogger, installProcessGuard } from '@footfall/observability';
import { loadIngestConfig } from './config.ts';
import { type IngestHandle, startIngest } from './service.ts';

assertNodeVersion();
const config = loadIngestConfig();
const logger = createLogger('ingest', config.logLevel);
let ingest: IngestHandle | undefined;
// SIGTERM/SIGINT drain; an uncaught error is logged, counted and exits 1 (never swallowed).
installProcessGuard({ logger, close: async () => ingest?.close() });
ingest = await startIngest(config, { logger });
