import { type Consumer, FetchIsolationLevels } from '@platformatic/kafka';
import type { ProcessorMetrics } from './metrics.ts';
import { ConsumeCounts, type PartitionTask, type PendingTimestamps } from './partition-task.ts';
import type { StateMetrics } from './state-metrics.ts';

/** One response of the consumer's low-level `fetch()` (several brokers' responses merged into one). */
export type FetchResponse = Awaited<ReturnType<Consumer['fetch']>>;

/** Longest a fetch waits for records; the loop waits less when its next tick is sooner. */
export const FETCH_MAX_WAIT_MS = 100;

/**
 * The consume side of the loop (Kafka Streams' poll + record routing): one `read_committed` fetch for
 * every owned {@link PartitionTask} from the task's own position, and each partition's records routed
 * to its task. Positions are the tasks', not the client's, so a restore can start anywhere and records
 * of a revoked partition are never consumed (docs/processor.md, "Loop and exactly-once").
 *
 * It also keeps what the consumed records owe the next transaction: their append timestamps (emit
 * latency) and the live record count (CommitPoint).
 */
export class Fetcher {
  readonly #consumer: () => Consumer;
  readonly #topic: string;
  /** The processor's tasks by partition (owned and mutated by the loop; read here). */
  readonly #tasks: ReadonlyMap<number, PartitionTask>;
  readonly #metrics: ProcessorMetrics;
  readonly #stateMetrics: StateMetrics;
  /** Input topic id as of the last fetch: partitions of another (recreated) topic are not ours. */
  #topicId: string | undefined;
  /** Append timestamps of the live records the next transaction carries (emit latency). */
  #pending: PendingTimestamps = { timestamps: [], counts: [] };
  #liveRecords = 0;

  constructor(
    consumer: () => Consumer,
    topic: string,
    tasks: ReadonlyMap<number, PartitionTask>,
    metrics: ProcessorMetrics,
    stateMetrics: StateMetrics,
  ) {
    this.#consumer = consumer;
    this.#topic = topic;
    this.#tasks = tasks;
    this.#metrics = metrics;
    this.#stateMetrics = stateMetrics;
  }

  /** Live input records (including bad and erased ones) consumed so far. */
  get liveRecords(): number {
    return this.#liveRecords;
  }

  /** Hands the pending timestamps to a transaction; later records collect in a fresh set. */
  takePending(): PendingTimestamps {
    const pending = this.#pending;
    this.#pending = { timestamps: [], counts: [] };
    return pending;
  }

  /**
   * Gives back the timestamps of a transaction that did not commit: their emit latency is reported
   * when they do commit. They are older than any collected since, so they go first.
   */
  returnPending(pending: PendingTimestamps): void {
    this.#pending.timestamps.unshift(...pending.timestamps);
    this.#pending.counts.unshift(...pending.counts);
  }

  /** Fetches from every owned task's position; undefined when the input topic is missing. */
  async fetch(maxWaitTime: number): Promise<FetchResponse | undefined> {
    const metadata = await this.#consumer().metadata({ topics: [this.#topic] });
    const topic = metadata.topics.get(this.#topic);
    if (topic === undefined) return undefined;
    this.#topicId = topic.id;
    // Group partitions by leader; one broker in dev, so usually one request.
    const byNode = new Map<number, PartitionTask[]>();
    for (const s of this.#tasks.values()) {
      const leader = topic.partitions[s.partition]?.leader ?? -1;
      const list = byNode.get(leader) ?? [];
      list.push(s);
      byNode.set(leader, list);
    }
    const requests = [...byNode].map(([node, states]) =>
      this.#consumer().fetch({
        node,
        topics: [
          {
            topicId: topic.id,
            partitions: states.map((s) => ({
              partition: s.partition,
              fetchOffset: s.position,
              partitionMaxBytes: 2 * 1024 * 1024,
              currentLeaderEpoch: -1,
              lastFetchedEpoch: -1,
            })),
          },
        ],
        maxWaitTime,
        minBytes: 1,
        maxBytes: 16 * 1024 * 1024,
        isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      }),
    );
    const responses = await Promise.all(requests);
    if (responses.length === 1) return responses[0];
    return {
      throttleTimeMs: 0,
      errorCode: 0,
      sessionId: 0,
      responses: responses.flatMap((r) => r.responses),
    };
  }

  /** Routes each partition of a response to its task (if still owned), then counts what was consumed. */
  process(response: FetchResponse): void {
    const m = this.#metrics;
    const counts = new ConsumeCounts();
    for (const topicResponse of response.responses) {
      if (topicResponse.topicId !== this.#topicId) continue;
      for (const p of topicResponse.partitions) {
        const task = this.#tasks.get(p.partitionIndex);
        if (task === undefined) continue;
        task.consume(p, counts, this.#pending);
        this.#stateMetrics.notePartitionLag(task);
      }
    }
    this.#stateMetrics.noteFetched(counts.advanced);
    this.#liveRecords += counts.live + counts.bad + counts.erased;
    if (counts.idleAdvances) m.idleAdvances.inc({ source: 'record_timestamp' }, counts.idleAdvances);
    if (counts.accepted) m.events.inc({ result: 'accepted' }, counts.accepted);
    if (counts.late) m.events.inc({ result: 'late' }, counts.late);
    if (counts.duplicate) m.events.inc({ result: 'duplicate' }, counts.duplicate);
    if (counts.inaccurate) m.events.inc({ result: 'inaccurate' }, counts.inaccurate);
    if (counts.bad) m.events.inc({ result: 'bad_record' }, counts.bad);
    if (counts.erased) m.events.inc({ result: 'erased' }, counts.erased);
    if (counts.restored) {
      m.consumed.inc({ mode: 'restore' }, counts.restored);
      m.restoreRecords.inc(counts.restored);
    }
    if (counts.live) m.consumed.inc({ mode: 'live' }, counts.live);
  }
}
