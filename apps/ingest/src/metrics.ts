import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface IngestMetrics {
  requests: Counter<'method' | 'code'>;
  pingsAccepted: Counter;
  pingsRejected: Counter<'reason'>;
  uploadBatchPings: Histogram;
  produceLatency: Histogram;
  produceSendRecords: Histogram;
  inflightPings: Gauge;
  inflightUploads: Gauge;
  kafkaUp: Gauge;
  nonces: Gauge;
  outcomeUnknown: Counter<'reason'>;
}

/** The service's metrics, registered on `registry` (one registry per service instance). */
export function createIngestMetrics(registry: Registry): IngestMetrics {
  const registers = [registry];
  return {
    requests: new Counter({
      name: 'footfall_ingest_requests_total',
      help: 'gRPC calls by method and status code name',
      labelNames: ['method', 'code'],
      registers,
    }),
    pingsAccepted: new Counter({
      name: 'footfall_ingest_pings_accepted_total',
      help: 'pings acknowledged by Kafka',
      registers,
    }),
    pingsRejected: new Counter({
      name: 'footfall_ingest_pings_rejected_total',
      help: 'pings refused, by reason (per-ping validation reasons and request-level error codes)',
      labelNames: ['reason'],
      registers,
    }),
    uploadBatchPings: new Histogram({
      name: 'footfall_ingest_upload_batch_pings',
      help: 'pings per authenticated upload',
      buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers,
    }),
    produceLatency: new Histogram({
      name: 'footfall_ingest_produce_latency_seconds',
      help: 'producer send until Kafka acked all records (acks=all)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    produceSendRecords: new Histogram({
      name: 'footfall_ingest_produce_send_records',
      help: 'records per producer send after coalescing uploads',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
      registers,
    }),
    inflightPings: new Gauge({
      name: 'footfall_ingest_inflight_pings',
      help: 'pings admitted and not yet settled by Kafka',
      registers,
    }),
    inflightUploads: new Gauge({
      name: 'footfall_ingest_inflight_uploads',
      help: 'Upload calls in progress (refused with INGEST_OVERLOADED at INGEST_MAX_INFLIGHT_UPLOADS)',
      registers,
    }),
    nonces: new Gauge({
      name: 'footfall_ingest_nonces',
      help: 'unexpired upload nonces held for replay protection (uploads are refused at NONCE_CACHE_MAX)',
      registers,
    }),
    outcomeUnknown: new Counter({
      name: 'footfall_ingest_outcome_unknown_total',
      help: 'uploads answered INGEST_OUTCOME_UNKNOWN (Kafka may have written them), by reason: send_failed | timeout',
      labelNames: ['reason'],
      registers,
    }),
    kafkaUp: new Gauge({
      name: 'footfall_ingest_kafka_up',
      help: '1 if Kafka answered recently',
      registers,
      aggregator: 'min', // cluster mode: 1 only if every worker reaches Kafka
    }),
  };
}
