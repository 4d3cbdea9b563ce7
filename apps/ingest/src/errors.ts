import { status } from '@grpc/grpc-js';

/**
 * The ingest service's error catalog. Every failure the service reports has one of these codes; each
 * maps to exactly one gRPC status and says whether retrying the same request can help. Converted to
 * a gRPC error once, at the edge (server.ts), with the code in the `footfall-error-code` trailer.
 */
export const INGEST_ERRORS = {
  INGEST_MALFORMED: {
    status: status.INVALID_ARGUMENT,
    retryable: false,
    doc: 'bytes are not a valid protobuf message',
  },
  INGEST_BAD_DEVICE_ID: {
    status: status.INVALID_ARGUMENT,
    retryable: false,
    doc: 'device_id is not a well-formed device id',
  },
  INGEST_BAD_NONCE: {
    status: status.INVALID_ARGUMENT,
    retryable: false,
    doc: 'nonce missing or not 16-64 url-safe characters',
  },
  INGEST_EMPTY_BATCH: { status: status.INVALID_ARGUMENT, retryable: false, doc: 'the batch has no pings' },
  INGEST_TOO_MANY_PINGS: {
    status: status.INVALID_ARGUMENT,
    retryable: false,
    doc: 'more than MAX_BATCH_PINGS pings',
  },
  INGEST_BAD_ENROLLMENT: {
    status: status.INVALID_ARGUMENT,
    retryable: false,
    doc: 'install_id or platform malformed',
  },
  INGEST_BAD_SIGNATURE: {
    status: status.UNAUTHENTICATED,
    retryable: false,
    doc: 'signature does not match (unknown device, wrong secret, or tampered batch)',
  },
  INGEST_DEVICE_MISMATCH: {
    status: status.UNAUTHENTICATED,
    retryable: false,
    doc: 'batch.device_id differs from UploadRequest.device_id',
  },
  INGEST_EXPIRED: {
    status: status.UNAUTHENTICATED,
    retryable: false,
    doc: 'sent_at_ms outside ±REPLAY_WINDOW_MS of server time',
  },
  INGEST_REPLAYED: {
    status: status.UNAUTHENTICATED,
    retryable: false,
    doc: 'this (device_id, nonce) was already seen',
  },
  INGEST_ATTESTATION_FAILED: {
    status: status.UNAUTHENTICATED,
    retryable: false,
    doc: 'the platform attestation did not verify',
  },
  INGEST_DEVICE_REVOKED: {
    status: status.PERMISSION_DENIED,
    retryable: false,
    doc: 'device revoked or its key version retired: enroll again',
  },
  INGEST_DEVICE_ERASED: {
    status: status.PERMISSION_DENIED,
    retryable: false,
    doc: "the device's data was erased at its user's request: enroll again",
  },
  INGEST_PLATFORM_NOT_ALLOWED: {
    status: status.PERMISSION_DENIED,
    retryable: false,
    doc: 'platform not accepted by this deployment (e.g. "dev" in production)',
  },
  INGEST_RATE_LIMITED: {
    status: status.RESOURCE_EXHAUSTED,
    retryable: true,
    doc: 'device over RATE_LIMIT_PINGS_PER_SEC, address over INGEST_ENROLL_PER_MIN; retry',
  },
  INGEST_OVERLOADED: {
    status: status.RESOURCE_EXHAUSTED,
    retryable: true,
    doc: 'INGEST_MAX_INFLIGHT_UPLOADS calls in progress or MAX_INFLIGHT_PINGS unacked pings (Kafka slow); retry after footfall-retry-after-ms',
  },
  INGEST_KAFKA_UNAVAILABLE: {
    status: status.UNAVAILABLE,
    retryable: true,
    doc: 'Kafka not reachable or did not take the batch: none of its pings was written; retry',
  },
  INGEST_OUTCOME_UNKNOWN: {
    status: status.UNAVAILABLE,
    retryable: true,
    doc: 'Kafka failed or timed out (PRODUCE_TIMEOUT_MS) after the batch was sent: it may be written. Retry with the same ping ids (the processor keeps one per (device, ping id))',
  },
  INGEST_NONCE_CACHE_FULL: {
    status: status.UNAVAILABLE,
    retryable: true,
    doc: 'the instance holds NONCE_CACHE_MAX unexpired nonces (replay protection never forgets one early); retry with backoff',
  },
  INGEST_DRAINING: {
    status: status.UNAVAILABLE,
    retryable: true,
    doc: 'the instance is shutting down; retry (another replica)',
  },
  INGEST_INTERNAL: { status: status.INTERNAL, retryable: false, doc: 'bug: an unexpected error (logged)' },
} as const satisfies Record<string, { status: status; retryable: boolean; doc: string }>;

export type IngestErrorCode = keyof typeof INGEST_ERRORS;

/** Base error of the service: a catalog code, its gRPC status, and whether a retry can help. */
export class IngestError extends Error {
  override name = 'IngestError';
  readonly code: IngestErrorCode;
  readonly grpcStatus: status;
  readonly retryable: boolean;
  /** When to retry, ms: sent as the `footfall-retry-after-ms` trailer. */
  retryAfterMs: number | undefined;
  constructor(
    code: IngestErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfterMs?: number | undefined },
  ) {
    super(message, options);
    this.code = code;
    this.retryAfterMs = options?.retryAfterMs;
    this.grpcStatus = INGEST_ERRORS[code].status;
    this.retryable = INGEST_ERRORS[code].retryable;
  }

  /** Any thrown value as an IngestError (unknown errors become INGEST_INTERNAL). */
  static from(error: unknown): IngestError {
    if (error instanceof IngestError) return error;
    return new IngestError('INGEST_INTERNAL', 'internal error', { cause: error });
  }
}
