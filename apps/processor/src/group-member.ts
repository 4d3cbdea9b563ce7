import { setTimeout as sleep } from 'node:timers/promises';
import { kafkaClientOptions } from '@footfall/kafka';
import type { Logger } from '@footfall/observability';
import { Consumer, type ConsumerGroupJoinPayload, FetchIsolationLevels } from '@platformatic/kafka';
import pRetry from 'p-retry';
import type { ProcessorConfig } from './config.ts';
import { ProcessorError } from './errors.ts';
import type { ProcessorMetrics } from './metrics.ts';

/** One group assignment as the processing loop applies it. */
export interface Assignment {
  readonly generationId: number;
  readonly memberId: string;
  /** Assigned input partitions, sorted. */
  readonly partitions: readonly number[];
}

/** Longest pause between two rejoin attempts after the group is lost. */
const MAX_REJOIN_BACKOFF_MS = 30_000;

/**
 * The processor's consumer-group membership (the group/assignment half of Kafka Streams' StreamThread):
 * joins, records each new assignment for the loop to apply, rejoins with backoff when the client gives
 * up on the group, and leaves (or, as a static member, deliberately does not leave) on close.
 *
 * The consumer is used only for membership and its low-level `fetch`/`metadata`; positions belong to the
 * processing loop.
 */
export class GroupMember {
  readonly consumer: Consumer;
  readonly #config: ProcessorConfig;
  readonly #logger: Logger;
  readonly #metrics: ProcessorMetrics;
  #pending: Assignment | undefined;
  #lost: unknown;
  #closing = false;
  #rejoinFailures = 0;

  constructor(config: ProcessorConfig, logger: Logger, metrics: ProcessorMetrics) {
    this.#config = config;
    this.#logger = logger;
    this.#metrics = metrics;
    const c = config;
    this.consumer = new Consumer({
      ...kafkaClientOptions(c, `footfall-processor-${c.instanceId}`),
      groupId: c.groupId,
      // Static membership (KIP-345): a member that comes back with the same group.instance.id within the
      // session timeout gets its partitions back without a rebalance. See close() for the other half.
      ...(c.staticMembership ? { groupInstanceId: c.instanceId } : {}),
      autocommit: false,
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
      sessionTimeout: c.sessionTimeoutMs,
      heartbeatInterval: c.heartbeatIntervalMs,
      rebalanceTimeout: c.sessionTimeoutMs + 5_000,
      retries: 3,
      retryDelay: 250,
    });
    // The client reports a failed group rejoin as an 'error' event and then stops heartbeating: the
    // member is out of the group for good unless someone joins again. With no listener Node would
    // throw it as an uncaught exception. The loop sees `lost` and rejoins with backoff (rejoin()).
    this.consumer.on('error', (error: unknown) => {
      if (this.#closing) return;
      this.#lost = error;
      this.#metrics.groupErrors.inc();
      this.#logger.error({ err: error }, 'consumer group lost; the processing loop will rejoin');
    });
    this.consumer.on('consumer:group:join', (payload: ConsumerGroupJoinPayload) => {
      this.#lost = undefined;
      this.#rejoinFailures = 0;
      const partitions = (payload.assignments ?? [])
        .filter((a) => a.topic === c.topicIngestion)
        .flatMap((a) => a.partitions);
      this.#pending = {
        generationId: payload.generationId ?? this.consumer.generationId,
        memberId: payload.memberId,
        partitions: [...partitions].sort((a, b) => a - b),
      };
      this.#metrics.assignments.inc();
      this.#metrics.generation.set(this.#pending.generationId);
      this.#logger.info({ generationId: this.#pending.generationId, partitions }, 'partitions assigned');
    });
  }

  /** The error that made the client leave the group, until the next successful join. */
  get lost(): unknown {
    return this.#lost;
  }

  /** True while a new assignment waits to be applied. */
  get hasPendingAssignment(): boolean {
    return this.#pending !== undefined;
  }

  /** The latest assignment not yet applied (and forgets it). */
  takeAssignment(): Assignment | undefined {
    const next = this.#pending;
    this.#pending = undefined;
    return next;
  }

  /**
   * First join. Retried like a rejoin: on a broker that just started (or a coordinator that is still
   * loading the group) JoinGroup fails for a while (COORDINATOR_LOAD_IN_PROGRESS / NOT_AVAILABLE), longer
   * than the client's own retries.
   */
  async join(signal: AbortSignal): Promise<void> {
    this.consumer.topics.track(this.#config.topicIngestion);
    // Same backoff as #backoffMs (0.5 s doubling, at most MAX_REJOIN_BACKOFF_MS), by p-retry.
    await pRetry(() => this.consumer.joinGroup({}), {
      retries: this.#config.maxGroupRejoinFailures - 1,
      minTimeout: 500,
      maxTimeout: MAX_REJOIN_BACKOFF_MS,
      factor: 2,
      signal,
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        this.#rejoinFailures = attemptNumber;
        if (retriesLeft > 0)
          this.#logger.warn({ err: error, failures: attemptNumber }, 'group join failed; retrying');
      },
    }).catch((error: unknown) => {
      if (signal.aborted) throw error;
      throw new ProcessorError('PROCESSOR_GROUP_LOST', `could not join group ${this.#config.groupId}`, {
        cause: error,
      });
    });
    this.#rejoinFailures = 0;
  }

  #backoffMs(): number {
    return Math.min(MAX_REJOIN_BACKOFF_MS, 500 * 2 ** Math.max(0, this.#rejoinFailures - 1));
  }

  /**
   * Joins again after the client gave up on the group. Exponential backoff (0.5 s doubling, at most
   * 30 s) between attempts; after PROCESSOR_MAX_REJOIN_FAILURES consecutive failures it throws a
   * non-retryable error: the loop stops and the process exits non-zero, so the orchestrator restarts it
   * (a member that can never rejoin must not look alive).
   */
  async rejoin(signal: AbortSignal): Promise<void> {
    await sleep(this.#backoffMs(), undefined, { signal });
    this.#metrics.groupRejoins.inc();
    try {
      await this.consumer.joinGroup({});
      this.#lost = undefined;
      this.#rejoinFailures = 0;
    } catch (error) {
      this.#rejoinFailures++;
      this.#logger.warn({ err: error, failures: this.#rejoinFailures }, 'group rejoin failed');
      if (this.#rejoinFailures >= this.#config.maxGroupRejoinFailures) {
        throw new ProcessorError(
          'PROCESSOR_GROUP_LOST',
          `could not rejoin group ${this.#config.groupId} after ${this.#rejoinFailures} attempts`,
          { cause: error },
        );
      }
    }
  }

  /**
   * Leaves the group, except as a static member: like the Java client (KIP-345), a static member
   * does not send LeaveGroup, so that a restart within the session timeout moves no partition.
   * @platformatic/kafka 2.12 always sends LeaveGroup from close() (consumer.js `#performLeaveGroup`,
   * which skips the request only when `memberId` is null); we clear `memberId` and deactivate the
   * membership through the public `leaveGroup()` first, which then sends nothing.
   */
  async close(): Promise<void> {
    this.#closing = true;
    if (this.#config.staticMembership && this.consumer.memberId !== null) {
      this.consumer.memberId = null;
      // Errors are irrelevant here: nothing is sent, and close() below tears the client down anyway.
      await new Promise<void>((resolve) => this.consumer.leaveGroup(true, () => resolve()));
    }
    await this.consumer.close(true);
  }
}
