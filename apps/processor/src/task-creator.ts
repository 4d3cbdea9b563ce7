import {
  DEFAULT_VISIT_WINDOW_MS,
  LiveEdge,
  LivePlaceEdge,
  PartitionAggregator,
  PlaceTracker,
} from '@footfall/domain';
import type { ErasureTable } from '@footfall/erasure';
import type { Logger } from '@footfall/observability';
import type { ProcessorConfig } from './config.ts';
import type { ProcessorMetrics } from './metrics.ts';
import { OutputWindow } from './output-window.ts';
import { PartitionTask, type PartitionTaskOptions, type WarmPlan } from './partition-task.ts';
import type { PlaceTable } from './places.ts';

/**
 * Creates the {@link PartitionTask} of a newly assigned (or stale) partition (Kafka Streams'
 * ActiveTaskCreator): a fresh aggregator configured from the processor's config, wired to the erasure
 * and place tables, with the task's callbacks reporting to the processor's logger and metrics.
 */
export class TaskCreator {
  readonly #config: ProcessorConfig;
  readonly #places: PlaceTable;
  readonly #options: PartitionTaskOptions;
  /** Each partition's place tracker, for its place live edge (docs/places.md, "Live edge"). */
  readonly #trackers = new WeakMap<PartitionAggregator, PlaceTracker>();

  constructor(
    config: ProcessorConfig,
    logger: Logger,
    metrics: ProcessorMetrics,
    erasures: ErasureTable,
    places: PlaceTable,
  ) {
    this.#config = config;
    this.#places = places;
    this.#options = {
      ...(config.nowcastIntervalMs > 0
        ? {
            newLiveEdge: () => this.#newLiveEdge(),
            newLivePlaceEdge: (edge: LiveEdge, aggregator: PartitionAggregator) => {
              const tracker = this.#trackers.get(aggregator);
              return tracker && new LivePlaceEdge(edge, tracker, places.index);
            },
          }
        : {}),
      liveEdgeIntervalMs: config.nowcastIntervalMs,
      idleTimeoutMs: config.idleTimeoutMs,
      allowedLatenessMs: config.allowedLatenessMs,
      onLive: (task, seconds) => {
        metrics.restoreDuration.observe(seconds);
        logger.info(
          { partition: task.partition, seconds: Number(seconds.toFixed(3)), state: task.aggregator.stats() },
          'partition restored, live',
        );
      },
      outputWindow: new OutputWindow(config.outputFromMs, config.outputUntilMs),
      onWarmed: (task, records, seconds) => {
        logger.info(
          {
            partition: task.partition,
            warmTopic: config.topicIngestionWarm,
            records,
            seconds: Number(seconds.toFixed(3)),
            state: task.aggregator.stats(),
          },
          'partition warmed from the previous generation; reading its own topic',
        );
      },
      onBadRecord: (task, offset, error) => {
        logger.warn({ partition: task.partition, offset: String(offset), err: error }, 'bad record skipped');
      },
      onFetchError: (task, errorCode) => {
        logger.warn({ partition: task.partition, errorCode }, 'fetch error on partition');
      },
      isErased: (deviceId) => erasures.has(deviceId),
    };
  }

  /**
   * A task that replays from `start` and goes live at the committed offset `committed`, after replaying
   * the previous generation's records of `warm` (if any).
   */
  create(partition: number, start: bigint, committed: bigint, warm?: WarmPlan): PartitionTask {
    return new PartitionTask(partition, this.#newAggregator(), start, committed, this.#options, warm);
  }

  #newLiveEdge(): LiveEdge {
    const c = this.#config;
    return new LiveEdge({
      bucketMs: c.bucketMs,
      presenceMaxGapMs: c.presenceMaxGapMs,
      horizonMs: c.nowcastHorizonMs,
      settleMs: c.nowcastSettleMs,
      delayWindowMs: c.nowcastDelayWindowMs,
      learnMinCount: c.nowcastLearnMinDevices,
      regionResolution: c.regionResolution,
    });
  }

  #newAggregator(): PartitionAggregator {
    const c = this.#config;
    const aggregator = new PartitionAggregator({
      bucketMs: c.bucketMs,
      presenceMaxGapMs: c.presenceMaxGapMs,
      allowedLatenessMs: c.allowedLatenessMs,
      minVisitMs: c.minVisitMs,
      maxAccuracyM: c.maxAccuracyM,
      jitterRing: c.jitterRing,
      regionResolution: c.regionResolution,
      // dp mode: the emitted counts are contribution-bounded (docs/privacy.md, "Contribution bounding").
      contributionBounds:
        c.privacyMode === 'dp'
          ? { maxCellsPerBucket: c.dpMaxCellsPerBucket, visitWindowMs: DEFAULT_VISIT_WINDOW_MS }
          : undefined,
    });
    const tracker = new PlaceTracker(this.#places.index, aggregator);
    aggregator.observePlaces(tracker);
    this.#trackers.set(aggregator, tracker);
    return aggregator;
  }
}
