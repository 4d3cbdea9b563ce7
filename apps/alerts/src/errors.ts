/**
 * The alerts service's error catalog (docs/errors.md, ALERTS_*). No request/response edge: a code is
 * carried in logs and in `footfall_alerts_errors_total`.
 */
export const ALERTS_ERRORS = {
  /** An `aggregated` record could not be decoded: counted and skipped. */
  ALERTS_INVALID_RECORD: { retryable: false },
  /** The evaluation transaction failed: retried with backoff; offsets are not committed. */
  ALERTS_DB_WRITE_FAILED: { retryable: true },
  /** Committing Kafka offsets failed: records are re-read and skipped (offsets are kept in PostgreSQL). */
  ALERTS_COMMIT_FAILED: { retryable: true },
  /** A webhook attempt failed (network, timeout, non-2xx): retried with exponential backoff. */
  ALERTS_WEBHOOK_FAILED: { retryable: true },
  /** A webhook target resolved to a forbidden address at delivery: retried (DNS may change), then dead. */
  ALERTS_WEBHOOK_TARGET_REFUSED: { retryable: true },
  /** A delivery failed ALERTS_WEBHOOK_MAX_ATTEMPTS times: dead-lettered, visible in the API. */
  ALERTS_WEBHOOK_DEAD: { retryable: false },
  /** The outbox scan failed (database): retried on the next poll. */
  ALERTS_OUTBOX_FAILED: { retryable: true },
  /** A Kafka error retrying cannot fix: the process exits non-zero. */
  ALERTS_CONSUMER_FAILED: { retryable: false },
} as const;

export type AlertsErrorCode = keyof typeof ALERTS_ERRORS;
