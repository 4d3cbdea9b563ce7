import type { ConsumerLiveness } from '@footfall/observability';
import type { ProcessorMetrics } from './metrics.ts';
import type { OutputWindow } from './output-window.ts';
import type { PartitionTask } from './partition-task.ts';

/**
 * The gauges that describe the owned state and the consumer's progress: lag per partition and in
 * total, state size per partition, partitions whose outputs may still change, and the last time the
 * position moved (which also feeds the `/healthz` liveness check). Kept apart from the loop so that the
 * loop only says when something happened, not how it is reported.
 */
export class StateMetrics {
  readonly #metrics: ProcessorMetrics;
  readonly #liveness: ConsumerLiveness;
  /** The processor's tasks by partition (owned and mutated by the loop; read here). */
  readonly #tasks: ReadonlyMap<number, PartitionTask>;
  #lag = 0;
  #lastProgressMs = Date.now();

  constructor(
    metrics: ProcessorMetrics,
    liveness: ConsumerLiveness,
    tasks: ReadonlyMap<number, PartitionTask>,
  ) {
    this.#metrics = metrics;
    this.#liveness = liveness;
    this.#tasks = tasks;
  }

  /** Records not yet read, summed over owned partitions (as of the last fetch). */
  get lag(): number {
    return this.#lag;
  }

  /** Wall time (ms) when the consume position last advanced, or was last seen caught up. */
  get lastProgressMs(): number {
    return this.#lastProgressMs;
  }

  /** The position advanced, or there is nothing to read (caught up, or nothing assigned). */
  noteProgress(lag: number): void {
    this.#lag = lag;
    this.#liveness.progressed();
    this.#lastProgressMs = Date.now();
    this.#metrics.lastProgress.set(this.#lastProgressMs / 1000);
  }

  /** A task consumed a fetched partition: its lag is now known. */
  notePartitionLag(task: PartitionTask): void {
    this.#metrics.lag.set({ partition: String(task.partition) }, task.lag);
  }

  /**
   * After a fetch was routed: lag with no advance is a stall as far as liveness is concerned (the
   * check fails once it lasts CONSUMER_STALL_TIMEOUT_MS); an advance or zero lag is progress.
   */
  noteFetched(advanced: boolean): void {
    let lag = 0;
    for (const task of this.#tasks.values()) lag += task.lag;
    if (advanced || lag === 0) this.noteProgress(lag);
    else this.#lag = lag;
    this.#liveness.reportLag(lag);
    this.#metrics.lagTotal.set(lag);
  }

  /** State size per owned partition (after each transaction: sizes change as outputs are drained). */
  updateState(): void {
    const m = this.#metrics;
    for (const s of this.#tasks.values()) {
      const st = s.aggregator.stats();
      const partition = String(s.partition);
      m.stateDevices.set({ partition }, st.devices);
      m.stateOpenBuckets.set({ partition }, st.openBuckets);
      m.stateCellBuckets.set({ partition }, st.openCellBuckets);
    }
  }

  /** Assigned partitions whose outputs before OUTPUT_UNTIL_MS may still change (operations.md). */
  updateOutputPending(window: OutputWindow, assigned: Iterable<number>): void {
    if (window.untilMs === Number.POSITIVE_INFINITY) return;
    let pending = 0;
    for (const p of assigned) {
      const task = this.#tasks.get(p);
      if (task?.live !== true || !window.drained(task.aggregator)) pending++;
    }
    this.#metrics.outputPending.set(pending);
  }

  /** A revoked partition is no longer ours: its series would otherwise report stale values forever. */
  clearPartition(p: number): void {
    const partition = String(p);
    this.#metrics.lag.remove({ partition });
    this.#metrics.stateDevices.remove({ partition });
    this.#metrics.stateOpenBuckets.remove({ partition });
    this.#metrics.stateCellBuckets.remove({ partition });
  }
}
