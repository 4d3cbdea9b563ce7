import { assertNodeVersion } from '@footfall/config';
import { createLogger, installProcessGuard } from '@footfall/observability';
import { loadSinkConfig } from './config.ts';
import { type Sink, startSink } from './sink.ts';

assertNodeVersion();
const config = loadSinkConfig();
const logger = createLogger('sink', config.logLevel);
let sink: Sink | undefined;
const guard = installProcessGuard({ logger, close: async () => sink?.close() });
// A non-retryable consumer failure (credentials, ACLs) exits non-zero: the orchestrator restarts the
// sink and its crash loop is the alert. Transient failures re-subscribe inside the sink.
sink = await startSink(config, { logger, onFatal: (error) => guard.fatal(error, 'SINK_CONSUMER_FAILED') });
