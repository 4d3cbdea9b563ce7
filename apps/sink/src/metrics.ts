import { createRegistry } from '@footfall/observability';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The sink's Prometheus metrics, on its own registry (several services may share a process). */
export function createSinkMetrics(registry: Registry = createRegistry('sink')) {
  return {
    registry,
    recordsRead: new Counter({
      name: 'footfall_sink_records_read_total',
      help: 'aggregated records read from Kafka and written (or skipped) in a committed batch',
      registers: [registry],
    }),
    records: new Counter({
      name: 'footfall_sink_records_total',
      help: 'aggregated records consumed, by outcome',
      labelNames: ['outcome'] as const, // occupancy | visit | tombstone | invalid | expired
      registers: [registry],
    }),
    rows: new Counter({
      name: 'footfall_sink_rows_changed_total',
      help: 'rows inserted/updated/deleted (unchanged replays and erased devices are not counted)',
      labelNames: ['table', 'op'] as const,
      registers: [registry],
    }),
    batchSeconds: new Histogram({
      name: 'footfall_sink_batch_duration_seconds',
      help: 'time to write one batch (DB transaction + offset commit)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    batchRecords: new Histogram({
      name: 'footfall_sink_batch_records',
      help: 'records per written batch',
      buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000, 50000],
      registers: [registry],
    }),
    errors: new Counter({
      name: 'footfall_sink_errors_total',
      help: 'errors by catalog code (docs/errors.md)',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    partitions: new Counter({
      name: 'footfall_sink_partitions_total',
      help: 'daily partitions created / dropped',
      labelNames: ['op'] as const,
      registers: [registry],
    }),
    resubscriptions: new Counter({
      name: 'footfall_sink_resubscriptions_total',
      help: 'consumer streams replaced after a stream or group failure (e.g. a broker outage)',
      registers: [registry],
    }),
    lastCommitMs: new Gauge({
      name: 'footfall_sink_last_commit_timestamp_ms',
      help: 'wall time of the last successful offset commit',
      registers: [registry],
    }),
  };
}

export type SinkMetrics = ReturnType<typeof createSinkMetrics>;
