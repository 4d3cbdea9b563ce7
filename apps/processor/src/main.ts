import { assertNodeVersion } from '@footfall/config';
import { createLogger, installProcessGuard } from '@footfall/observability';
import { loadProcessorConfig } from './config.ts';
import { type ProcessorHandle, startProcessor } from './index.ts';

assertNodeVersion();
const config = loadProcessorConfig();
const logger = createLogger('processor', config.logLevel);
let handle: ProcessorHandle | undefined;
// SIGTERM/SIGINT drain; an uncaught error is logged, counted and exits 1 (never swallowed).
const guard = installProcessGuard({ logger, close: async () => handle?.close() });
// A loop that stops for good (e.g. the group cannot be rejoined) must not leave a process that looks
// alive: close what can be closed and exit non-zero so the orchestrator restarts it.
handle = await startProcessor(config, {
  logger,
  onFatal: (error) => guard.fatal(error, 'PROCESSOR_GROUP_LOST'),
});
