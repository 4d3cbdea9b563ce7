import { createRegistry } from '@footfall/observability';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The processor's Prometheus metrics (one registry per instance, so several can share a process). */
export interface ProcessorMetrics {
  registry: Registry;
  events: Counter<'result'>;
  consumed: Counter<'mode'>;
  updates: Counter<'kind'>;
  transactions: Counter<'outcome'>;
  lag: Gauge<'partition'>;
  stateDevices: Gauge<'partition'>;
  stateOpenBuckets: Gauge<'partition'>;
  stateCellBuckets: Gauge<'partition'>;
  assignedPartitions: Gauge;
  emitLatency: Histogram;
  restoreDuration: Histogram;
  restoreRecords: Counter;
  warmRecords: Counter;
  restoreFailures: Counter;
  rebuilds: Counter<'reason'>;
  assignments: Counter;
  revokedPartitions: Counter;
  generation: Gauge;
  groupErrors: Counter;
  groupRejoins: Counter;
  idleAdvances: Counter<'source'>;
  lastProgress: Gauge;
  lagTotal: Gauge;
  outputPending: Gauge;
  mutableFrom: Gauge;
}

/** Emit-latency buckets (seconds): fine below 2 s, where the p99 target (1.5 s) lives. */
export const EMIT_LATENCY_BUCKETS = [
  0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 2, 3, 5, 10, 30,
  60,
];

/**
 * `mutableFromMs`: on each scrape, the earliest event time whose outputs may still change over the
 * owned partitions that hold data (see `Processor.mutableFromMs`); omitted = the gauge stays unset.
 */
export function createProcessorMetrics(instanceId: string, mutableFromMs?: () => number): ProcessorMetrics {
  const registry = createRegistry('processor');
  registry.setDefaultLabels({ service: 'processor', instance_id: instanceId });
  const registers = [registry];
  return {
    registry,
    events: new Counter({
      name: 'footfall_processor_events_total',
      help: 'Pings consumed live (not restore replays), by aggregator outcome: accepted | late | duplicate | inaccurate | bad_record | erased',
      labelNames: ['result'],
      registers,
    }),
    consumed: new Counter({
      name: 'footfall_processor_records_total',
      help: 'Kafka records read from the input topic, by mode (live | restore)',
      labelNames: ['mode'],
      registers,
    }),
    updates: new Counter({
      name: 'footfall_processor_updates_total',
      help: 'Aggregate records committed to the output topic, by kind (occupancy | visit | tombstone | live | place)',
      labelNames: ['kind'],
      registers,
    }),
    transactions: new Counter({
      name: 'footfall_processor_transactions_total',
      help: 'Kafka transactions by outcome (committed | aborted)',
      labelNames: ['outcome'],
      registers,
    }),
    lag: new Gauge({
      name: 'footfall_processor_consumer_lag',
      help: 'Records between the high watermark and the next offset to read, per input partition',
      labelNames: ['partition'],
      registers,
    }),
    stateDevices: new Gauge({
      name: 'footfall_processor_state_devices',
      help: 'Devices held in aggregation state, per partition',
      labelNames: ['partition'],
      registers,
    }),
    stateOpenBuckets: new Gauge({
      name: 'footfall_processor_state_open_buckets',
      help: 'Distinct time buckets held in aggregation state, per partition',
      labelNames: ['partition'],
      registers,
    }),
    stateCellBuckets: new Gauge({
      name: 'footfall_processor_state_cell_buckets',
      help: '(cell, bucket) entries held in aggregation state, per partition',
      labelNames: ['partition'],
      registers,
    }),
    assignedPartitions: new Gauge({
      name: 'footfall_processor_assigned_partitions',
      help: 'Input partitions currently assigned to this instance',
      registers,
    }),
    emitLatency: new Histogram({
      name: 'footfall_processor_emit_latency_seconds',
      help: "Time from a record's Kafka append timestamp to the commit of the transaction carrying its update",
      buckets: EMIT_LATENCY_BUCKETS,
      registers,
    }),
    restoreDuration: new Histogram({
      name: 'footfall_processor_restore_duration_seconds',
      help: 'Time to rebuild one partition state (from assignment to live), seconds',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    restoreRecords: new Counter({
      name: 'footfall_processor_restore_records_total',
      help: 'Records replayed silently to rebuild state (restore)',
      registers,
    }),
    warmRecords: new Counter({
      name: 'footfall_processor_warm_records_total',
      help: "Records of the previous generation's topic (TOPIC_INGESTION_WARM) replayed into this generation's partitions (of restore_records)",
      registers,
    }),
    restoreFailures: new Counter({
      name: 'footfall_processor_restore_failures_total',
      help: 'Assignments whose restore could not start (e.g. committed offsets still unstable); each is retried',
      registers,
    }),
    rebuilds: new Counter({
      name: 'footfall_processor_rebuilds_total',
      help: 'Partition state rebuilds, by reason (assigned | stale: someone else committed it meanwhile)',
      labelNames: ['reason'],
      registers,
    }),
    assignments: new Counter({
      name: 'footfall_processor_assignments_total',
      help: 'Group assignments received (every completed rebalance that included this member)',
      registers,
    }),
    revokedPartitions: new Counter({
      name: 'footfall_processor_partitions_revoked_total',
      help: 'Input partitions this instance owned and lost in a rebalance',
      registers,
    }),
    generation: new Gauge({
      name: 'footfall_processor_group_generation',
      help: 'Generation id of the latest group assignment',
      registers,
    }),
    groupErrors: new Counter({
      name: 'footfall_processor_group_errors_total',
      help: 'Times the client gave up on the consumer group (failed rejoin)',
      registers,
    }),
    groupRejoins: new Counter({
      name: 'footfall_processor_group_rejoins_total',
      help: 'Rejoin attempts of the processing loop after the group was lost',
      registers,
    }),
    idleAdvances: new Counter({
      name: 'footfall_processor_idle_watermark_advances_total',
      help: 'Watermark advances of idle partitions, by clock source (wall_clock: live and silent | record_timestamp: a gap in the log)',
      labelNames: ['source'],
      registers,
    }),
    lastProgress: new Gauge({
      name: 'footfall_processor_last_progress_timestamp_seconds',
      help: 'Unix time when the consume position last advanced or was last seen caught up (liveness)',
      registers,
    }),
    lagTotal: new Gauge({
      name: 'footfall_processor_consumer_lag_total',
      help: 'Records between the high watermark and the next offset to read, summed over owned partitions',
      registers,
    }),
    mutableFrom: new Gauge({
      name: 'footfall_processor_mutable_from_timestamp_seconds',
      help: 'Event time (Unix s) before which no output of the owned partitions can change any more (oldest open stay or bucket); +Inf with no data. Read when changing the partition count (docs/operations.md)',
      registers,
      collect() {
        if (mutableFromMs !== undefined) this.set(mutableFromMs() / 1000);
      },
    }),
    outputPending: new Gauge({
      name: 'footfall_processor_output_pending_partitions',
      help: 'With OUTPUT_UNTIL_MS set: assigned partitions whose outputs before it may still change (0 on every instance = this generation is drained); -1 = not yet known',
      registers,
    }),
  };
}
