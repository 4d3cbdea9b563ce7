import { randomBytes } from 'node:crypto';
import { createTopics, type TopicSpec } from '@footfall/kafka';

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
