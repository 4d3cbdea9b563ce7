import { assertNodeVersion } from '@footfall/config';
import { createLogger } from '@footfall/observability';
import { loadProcessorConfig } from './config.ts';
import { startProcessor } from './index.ts';

assertNodeVersion();
const config = loadProcessorConfig();
const logger = createLogger('processor', config.logLevel);
const handle = await startProcessor(config, { logger });

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  const force = setTimeout(() => {
    logger.error('shutdown timed out');
    process.exit(1);
  }, 30_000);
  force.unref();
  try {
    await handle.close();
  } finally {
    process.exit(0);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
