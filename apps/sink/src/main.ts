import { assertNodeVersion } from '@footfall/config';
import { createLogger } from '@footfall/observability';
import { loadSinkConfig } from './config.ts';
import { startSink } from './sink.ts';

assertNodeVersion();
const config = loadSinkConfig();
const logger = createLogger('sink', config.logLevel);
const sink = await startSink(config, { logger });
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'shutting down');
    sink.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
