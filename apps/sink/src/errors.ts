/**
 * The sink's error catalog (docs/errors.md, SINK_*). The sink has no request/response edge, so a code
 * maps to whether retrying helps and is carried in logs and the `footfall_sink_errors_total` metric.
 */
export const SINK_ERRORS = {
  /** A record's key or value could not be decoded: logged, counted, skipped (never blocks a partition). */
  SINK_INVALID_RECORD: { retryable: false },
  /** The DB transaction of a batch failed: the batch is retried with backoff; offsets are not committed. */
  SINK_DB_WRITE_FAILED: { retryable: true },
  /** Committing offsets failed (usually a rebalance): the records are re-read and re-applied idempotently. */
  SINK_COMMIT_FAILED: { retryable: true },
  /** Creating or dropping a daily partition failed; retried on the next batch / retention run. */
  SINK_PARTITION_FAILED: { retryable: true },
  /** The consumer stream or group failed (e.g. a broker outage): a fresh consumer re-subscribes with backoff. */
  SINK_CONSUMER_RESUBSCRIBE: { retryable: true },
  /** A Kafka error that retrying cannot fix (authentication, authorization): the process exits non-zero. */
  SINK_CONSUMER_FAILED: { retryable: false },
  /** A record older than the retention window: its partition no longer exists, so it is dropped. */
  SINK_RECORD_EXPIRED: { retryable: false },
} as const;

export type SinkErrorCode = keyof typeof SINK_ERRORS;

export class SinkError extends Error {
  override name = 'SinkError';
  readonly code: SinkErrorCode;
  readonly retryable: boolean;
  constructor(code: SinkErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.retryable = SINK_ERRORS[code].retryable;
  }
}
