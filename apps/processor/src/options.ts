import type { Logger } from '@footfall/observability';

/** What {@link ProcessorOptions.beforeCommit} is told about the transaction about to commit. */
export interface CommitPoint {
  /** 1-based number of this instance's transaction attempts. */
  readonly transaction: number;
  /** Live input records (including bad and erased ones) this instance consumed so far, this transaction's included. */
  readonly liveRecords: number;
  /** Output records sent in this transaction. */
  readonly outputs: number;
  /** Input partitions whose offsets this transaction commits, with the offset committed. */
  readonly offsets: ReadonlyMap<number, bigint>;
}

/** Options of `Processor` (kept apart so the modules it uses can name them without importing it). */
export interface ProcessorOptions {
  logger?: Logger;
  /** Start the ops HTTP server (default true). Tests running several instances pass OPS_PORT=0. */
  opsServer?: boolean;
  /**
   * Fault-injection seam (tests): runs inside every transaction after its outputs and offsets were
   * sent and before EndTxn(commit). A crash here (e.g. `process.kill(process.pid, 'SIGKILL')`) is the
   * worst moment for exactly-once: outputs are in the log, the commit is not. A throw aborts the
   * transaction like any other failure.
   */
  beforeCommit?: (point: CommitPoint) => void | Promise<void>;
  /**
   * Called once if the processing loop stops for good (e.g. the group cannot be rejoined). The
   * process should exit non-zero (main.ts does); the processor is not ready from then on.
   */
  onFatal?: (error: unknown) => void;
  /**
   * "Now" of the live edge (default Date.now): only the provisional `live:` output depends on it, never
   * the final counts (docs/insights.md, "Live edge").
   */
  clock?: () => number;
  /**
   * Reads of stable committed offsets a restore tries before it gives up and the assignment is
   * retried on the next loop step (default 50, ~45 s; tests lower it to see the retry quickly).
   */
  stableOffsetAttempts?: number;
}

/** What a consumer-progress liveness check needs (see `Processor.progress`). */
export interface ProcessorProgress {
  /** Wall time (ms) when the consume position last advanced, or was last seen caught up. */
  readonly lastProgressMs: number;
  /** Records not yet read, summed over owned partitions (as of the last fetch). */
  readonly lag: number;
  /** The loop stopped for good (fatal error). */
  readonly stopped: boolean;
}
