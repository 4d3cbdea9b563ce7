import { createRegistry } from '@footfall/observability';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The alerts service's Prometheus metrics, on its own registry. */
export function createAlertsMetrics(registry: Registry = createRegistry('alerts')) {
  return {
    registry,
    records: new Counter({
      name: 'footfall_alerts_records_total',
      help: 'aggregated records read, by outcome (evaluated | untracked | replayed | invalid)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    fired: new Counter({
      name: 'footfall_alerts_fired_total',
      help: 'alerts fired (written to the outbox), by kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    deliveries: new Counter({
      name: 'footfall_alerts_webhook_attempts_total',
      help: 'webhook attempts by outcome (delivered | failed | dead)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'footfall_alerts_delivery_latency_seconds',
      help: 'aggregated record timestamp → webhook acknowledged (2xx)',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    batchSeconds: new Histogram({
      name: 'footfall_alerts_batch_duration_seconds',
      help: 'time to evaluate one batch (DB transaction + offset commit)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    pending: new Gauge({
      name: 'footfall_alerts_webhook_in_flight',
      help: 'webhook requests in flight',
      registers: [registry],
    }),
    dpRefused: new Gauge({
      name: 'footfall_alerts_dp_refused',
      help: '1 when PRIVACY_MODE=dp: no subscription is evaluated and no webhook sent (docs/alerts.md)',
      registers: [registry],
    }),
    errors: new Counter({
      name: 'footfall_alerts_errors_total',
      help: 'errors by catalog code (docs/errors.md)',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
  };
}

export type AlertsMetrics = ReturnType<typeof createAlertsMetrics>;
