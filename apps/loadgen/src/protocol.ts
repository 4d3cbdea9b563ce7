// Messages between the load generator's main thread and its workers.

/** What one worker counted in one second (inflight: at the end of it). */
export interface WorkerCounters {
  /** Batches (pings) the schedule made due. */
  offeredBatches: number;
  offeredPings: number;
  /** Due batches not sent because every allowed stream was busy (the generator does not queue). */
  skippedNoStream: number;
  /** Due batches that had to be built on the send path (the pre-built queue ran dry). */
  builtLate: number;
  answered: number;
  okBatches: number;
  /** Pings the service acknowledged (UploadResponse.accepted). */
  acceptedPings: number;
  /** Answers by gRPC status name, or transport outcome (RST_STREAM_n, SESSION_CLOSED, CLIENT_TIMEOUT). */
  codes: Record<string, number>;
  /** Answers by `footfall-error-code` trailer. */
  errorCodes: Record<string, number>;
  /** Answers that carried `footfall-retry-after-ms`, and the largest hint. */
  retryHints: number;
  retryHintMaxMs: number;
  inflight: number;
}

export function emptyCounters(): WorkerCounters {
  return {
    offeredBatches: 0,
    offeredPings: 0,
    skippedNoStream: 0,
    builtLate: 0,
    answered: 0,
    okBatches: 0,
    acceptedPings: 0,
    codes: {},
    errorCodes: {},
    retryHints: 0,
    retryHintMaxMs: 0,
    inflight: 0,
  };
}

/** Adds `b` into `a` (inflight is summed: `a` collects one report per worker). */
export function addCounters(a: WorkerCounters, b: WorkerCounters): WorkerCounters {
  for (const k of [
    'offeredBatches',
    'offeredPings',
    'skippedNoStream',
    'builtLate',
    'answered',
    'okBatches',
    'acceptedPings',
    'retryHints',
    'inflight',
  ] as const)
    a[k] += b[k];
  a.retryHintMaxMs = Math.max(a.retryHintMaxMs, b.retryHintMaxMs);
  for (const [k, v] of Object.entries(b.codes)) a.codes[k] = (a.codes[k] ?? 0) + v;
  for (const [k, v] of Object.entries(b.errorCodes)) a.errorCodes[k] = (a.errorCodes[k] ?? 0) + v;
  return a;
}

export type WorkerInput = { type: 'rate'; batchesPerSec: number } | { type: 'snapshot' } | { type: 'stop' };

export type WorkerOutput =
  | { type: 'ready' }
  | { type: 'second'; counters: WorkerCounters }
  | { type: 'snapshot'; ok: string; refused: string }
  | { type: 'stopped' };
