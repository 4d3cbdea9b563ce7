// PRIVACY_MODE=dp: crowd alerts are not run (docs/alerts.md, "Differential privacy"). An alert is a
// threshold crossing of a raw (k-anonymised) count: even a payload without `devices` publishes one bit
// of an un-noised count per bucket, outside the budget ledger. Evaluating against DP releases would need
// a release per watched cell and bucket, charged to the budget; until then the service consumes nothing,
// evaluates nothing and sends no webhook (pending deliveries of earlier alerts included), and says so:
// a warning at start and `footfall_alerts_dp_refused 1`. The API refuses new subscriptions likewise.

import type { Database } from '@footfall/db';
import { ConsumerLiveness, type Logger, OpsServer } from '@footfall/observability';
import type { AlertsConfig } from './config.ts';
import type { AlertsMetrics } from './metrics.ts';
import type { Alerts } from './service.ts';

/** The alerts service in dp mode: only its ops endpoints (ready when the database answers). */
export async function startDpIdleAlerts(
  config: AlertsConfig,
  deps: { db: Database; ownsDb: boolean; logger: Logger; metrics: AlertsMetrics },
): Promise<Alerts> {
  const { db, ownsDb, logger, metrics } = deps;
  metrics.dpRefused.set(1);
  // Nothing is consumed, so nothing can stall: no lag function, never started.
  const liveness = new ConsumerLiveness({ stallTimeoutMs: config.stallTimeoutMs });
  const ops = await OpsServer.start({
    port: config.opsPort,
    registry: metrics.registry,
    readiness: {
      database: async () => {
        await db.query('SELECT 1');
        return true;
      },
    },
  });
  logger.warn(
    { privacyMode: config.privacyMode, opsPort: ops.port },
    'alerts idle: PRIVACY_MODE=dp has no differentially private alert release; nothing is evaluated or delivered',
  );
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      ops.drain();
      await ops.close();
      if (ownsDb) await db.close();
      logger.info('alerts stopped');
    })();
    return closed;
  };
  return { opsPort: ops.port, db, metrics, liveness, batches: 0, close, [Symbol.asyncDispose]: close };
}
