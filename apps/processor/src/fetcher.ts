import { type Consumer, FetchIsolationLevels } from '@platformatic/kafka';
import type { ProcessorMetrics } from './metrics.ts';
import { ConsumeCounts, type PartitionTask, type PendingTimestamps } from './partition-task.ts';
import type { StateMetrics } from './state-metrics.ts';

/** One response of the consumer's low-level `fetch()` (several brokers' responses merged into one). */
export type FetchResponse = Awaited<ReturnType<Consumer['fetch']>>;

/**
 * What one loop step fetched: the own topic's response (undefined when no task reads it, e.g. all are
 * warming) and the warm topic's responses, each with the tasks it was fetched for.
 */
export interface FetchResult {
  readonly main: FetchResponse | undefined;
  readonly warm: readonly { readonly tasks: readonly PartitionTask[]; readonly response: FetchResponse }[];
}

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
  /** The warm topic's id as of the last fetch that read it. */
  #warmTopicId: string | undefined;
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

  /**
   * Fetches from every owned task's position: the own topic for tasks past their warm, the warm topic
   * for the others (docs/operations.md); undefined when the input topic is missing.
   */
  async fetch(maxWaitTime: number): Promise<FetchResult | undefined> {
    const own: PartitionTask[] = [];
    const warming: PartitionTask[] = [];
    for (const s of this.#tasks.values()) (s.warm === undefined ? own : warming).push(s);
    const warmTopic = warming[0]?.warm?.plan.topic;
    const topics = warmTopic === undefined ? [this.#topic] : [this.#topic, warmTopic];
    const metadata = await this.#consumer().metadata({ topics });
    const topic = metadata.topics.get(this.#topic);
    if (topic === undefined) return undefined;
    this.#topicId = topic.id;
    const requests: Promise<FetchResponse>[] = [];
    // Group partitions by leader; one broker in dev, so usually one request.
    const byNode = new Map<number, PartitionTask[]>();
    for (const s of own) {
      const leader = topic.partitions[s.partition]?.leader ?? -1;
      const list = byNode.get(leader) ?? [];
      list.push(s);
      byNode.set(leader, list);
    }
    for (const [node, states] of byNode) {
      requests.push(this.#request(node, topic.id, states, (s) => [s.partition, s.position], maxWaitTime));
    }
    const warmRequests: { tasks: PartitionTask[]; response: Promise<FetchResponse> }[] = [];
    const old = warmTopic === undefined ? undefined : metadata.topics.get(warmTopic);
    if (old !== undefined) {
      this.#warmTopicId = old.id;
      // Tasks p and p + N1 warm from the same old partition at their own positions: they go in separate
      // requests (a fetch names a partition once). Records are available up to each warm's end: no wait.
      const byLeader = new Map<number, Map<number, PartitionTask>[]>();
      for (const s of warming) {
        const q = s.warm?.plan.partition ?? 0;
        const leader = old.partitions[q]?.leader ?? -1;
        const rounds = byLeader.get(leader) ?? [];
        byLeader.set(leader, rounds);
        let round = rounds.find((r) => !r.has(q));
        if (round === undefined) {
          round = new Map();
          rounds.push(round);
        }
        round.set(q, s);
      }
      const at = (s: PartitionTask): [number, bigint] => [
        s.warm?.plan.partition ?? 0,
        s.warm?.position ?? 0n,
      ];
      for (const [leader, rounds] of byLeader) {
        for (const round of rounds) {
          const tasks = [...round.values()];
          warmRequests.push({ tasks, response: this.#request(leader, old.id, tasks, at, 0) });
        }
      }
    }
    // One await for all of them: a failure of one must not leave the others' rejections unhandled.
    const [responses, warm] = await Promise.all([
      Promise.all(requests),
      Promise.all(warmRequests.map(async (r) => ({ tasks: r.tasks, response: await r.response }))),
    ]);
    const main: FetchResponse | undefined =
      responses.length <= 1
        ? responses[0]
        : {
            throttleTimeMs: 0,
            errorCode: 0,
            sessionId: 0,
            responses: responses.flatMap((r) => r.responses),
          };
    return { main, warm };
  }

  #request(
    node: number,
    topicId: string,
    tasks: readonly PartitionTask[],
    at: (s: PartitionTask) => [number, bigint],
    maxWaitTime: number,
  ): Promise<FetchResponse> {
    return this.#consumer().fetch({
      node,
      topics: [
        {
          topicId,
          partitions: tasks.map((s) => {
            const [partition, fetchOffset] = at(s);
            return {
              partition,
              fetchOffset,
              partitionMaxBytes: 2 * 1024 * 1024,
              currentLeaderEpoch: -1,
              lastFetchedEpoch: -1,
            };
          }),
        },
      ],
      maxWaitTime,
      minBytes: 1,
      maxBytes: 16 * 1024 * 1024,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    });
  }

  /** Routes each partition of a response to its task (if still owned), then counts what was consumed. */
  process(result: FetchResult): void {
    const m = this.#metrics;
    const counts = new ConsumeCounts();
    for (const topicResponse of result.main?.responses ?? []) {
      if (topicResponse.topicId !== this.#topicId) continue;
      for (const p of topicResponse.partitions) {
        const task = this.#tasks.get(p.partitionIndex);
        if (task === undefined) continue;
        task.consume(p, counts, this.#pending);
        this.#stateMetrics.notePartitionLag(task);
      }
    }
    for (const { tasks, response } of result.warm) {
      for (const topicResponse of response.responses) {
        if (topicResponse.topicId !== this.#warmTopicId) continue;
        for (const p of topicResponse.partitions) {
          const task = tasks.find((s) => s.warm?.plan.partition === p.partitionIndex);
          // Still ours (not revoked meanwhile) and still warming.
          if (task !== undefined && this.#tasks.get(task.partition) === task) task.consumeWarm(p, counts);
        }
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
    if (counts.warmed) m.warmRecords.inc(counts.warmed);
    if (counts.live) m.consumed.inc({ mode: 'live' }, counts.live);
  }
}
