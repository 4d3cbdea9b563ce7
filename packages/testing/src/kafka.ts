import { randomBytes } from 'node:crypto';
import { createTopics, TOPIC_ERASURES, type TopicSpec } from '@footfall/kafka';
import { Consumer } from '@platformatic/kafka';
import { waitFor } from './wait-for.ts';

/** The broker started by the global setup (or TEST_KAFKA_BOOTSTRAP). */
export function kafkaBootstrap(): string {
  const bootstrap = process.env.KAFKA_BOOTSTRAP;
  if (!bootstrap) throw new Error('KAFKA_BOOTSTRAP is not set: run tests with `npm test` (global setup)');
  return bootstrap;
}

/** Creates a fresh `ingestion`/`aggregated` pair with unique names, so test files never interfere. */
export async function uniqueTopics(
  partitions = 6,
): Promise<{ ingestion: string; aggregated: string; specs: TopicSpec[] }> {
  const suffix = randomBytes(4).toString('hex');
  const ingestion = `ingestion-${suffix}`;
  const aggregated = `aggregated-${suffix}`;
  const specs: TopicSpec[] = [
    { name: ingestion, partitions },
    { name: aggregated, partitions, configs: { 'cleanup.policy': 'compact,delete' } },
  ];
  await createTopics(kafkaBootstrap(), specs);
  return { ingestion, aggregated, specs };
}

/**
 * Waits until the broker's group coordinator answers a join. A fresh broker creates and loads
 * `__consumer_offsets` on the first group request; until then joins fail with NOT_COORDINATOR (a
 * processor starting then exits, for its orchestrator to restart it).
 */
export async function waitForGroupCoordinator(bootstrap: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    'the group coordinator',
    async () => {
      const consumer = new Consumer({
        clientId: 'testing-warmup',
        bootstrapBrokers: [bootstrap],
        groupId: `testing-warmup-${randomBytes(4).toString('hex')}`,
      });
      try {
        consumer.topics.track(TOPIC_ERASURES);
        await consumer.joinGroup({});
        return true;
      } finally {
        await consumer.close(true).catch(() => {});
      }
    },
    timeoutMs,
    500,
  );
}
