/** Error codes of the processor (docs/errors.md, PROCESSOR_* section). */
export type ProcessorErrorCode =
  | 'PROCESSOR_TRANSACTION_FAILED'
  | 'PROCESSOR_RESTORE_FAILED'
  | 'PROCESSOR_FETCH_FAILED'
  | 'PROCESSOR_BAD_RECORD'
  | 'PROCESSOR_TOPIC_MISMATCH'
  | 'PROCESSOR_GROUP_LOST'
  | 'PROCESSOR_CLOSED';

const RETRYABLE: Record<ProcessorErrorCode, boolean> = {
  PROCESSOR_TRANSACTION_FAILED: true,
  PROCESSOR_RESTORE_FAILED: true,
  PROCESSOR_FETCH_FAILED: true,
  PROCESSOR_BAD_RECORD: false,
  PROCESSOR_TOPIC_MISMATCH: false,
  PROCESSOR_GROUP_LOST: false,
  PROCESSOR_CLOSED: false,
};

/** The processor has no request edge: codes surface in logs and metrics, and retryable ones self-heal. */
export class ProcessorError extends Error {
  override name = 'ProcessorError';
  readonly code: ProcessorErrorCode;
  readonly retryable: boolean;
  constructor(code: ProcessorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.retryable = RETRYABLE[code];
  }
}
