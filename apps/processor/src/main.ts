import { assertNodeVersion } from '@footfall/config';
import { createLogger } from '@footfall/observability';
import { loadProcessorConfig } from './config.ts';
import { type ProcessorHandle, startProcessor } from './index.ts';

assertNodeVersion();
const config = loadProcessorConfig();
const logger = createLogger('processor', config.logLevel);
// A loop that stops for good (e.g. the group cannot be rejoined) must not leave a process that looks
// alive: close what can be closed and exit non-zero so the orchestrator restarts it.
let handle: ProcessorHandle | undefined;
handle = await startProcessor(config, {
  logger,
  onFatal: () => {
    void shutdown('fatal', 1);
  },
});

let stopping = false;
async function shutdown(signal: string, exitCode = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  const force = setTimeout(() => {
    logger.error('shutdown timed out');
    process.exit(1);
  }, 30_000);
  force.unref();
  try {
    await handle?.close();
  } finally {
    process.exit(exitCode);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
