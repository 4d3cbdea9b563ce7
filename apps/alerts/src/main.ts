import { assertNodeVersion } from '@footfall/config';
import { createLogger, installProcessGuard } from '@footfall/observability';
import { loadAlertsConfig } from './config.ts';
import { type Alerts, startAlerts } from './service.ts';

assertNodeVersion();
const config = loadAlertsConfig();
const logger = createLogger('alerts', config.logLevel);
let alerts: Alerts | undefined;
const guard = installProcessGuard({ logger, close: async () => alerts?.close() });
// A non-retryable consumer failure exits non-zero: the orchestrator restarts the service. Pending
// deliveries are rows in the outbox, so nothing is lost across the restart.
alerts = await startAlerts(config, {
  logger,
  onFatal: (error) => guard.fatal(error, 'ALERTS_CONSUMER_FAILED'),
});
