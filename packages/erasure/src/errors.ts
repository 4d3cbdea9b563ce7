/** Error catalog of the erasure log. Each code says whether retrying can help. */
export const ERASURE_ERRORS = {
  ERASURE_TOPIC_MISSING: { retryable: false, doc: 'the erasure topic does not exist (create it first)' },
  ERASURE_PUBLISH_FAILED: { retryable: true, doc: 'Kafka did not acknowledge the erasure record' },
  ERASURE_CLOSED: { retryable: false, doc: 'the reader or writer was closed' },
} as const satisfies Record<string, { retryable: boolean; doc: string }>;

export type ErasureErrorCode = keyof typeof ERASURE_ERRORS;

export class ErasureError extends Error {
  override name = 'ErasureError';
  readonly code: ErasureErrorCode;
  readonly retryable: boolean;
  constructor(code: ErasureErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.retryable = ERASURE_ERRORS[code].retryable;
  }
}
