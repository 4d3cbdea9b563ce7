// Global setup for `npm test` (node --test --test-global-setup): one real Kafka broker for the whole
// run, shared by every test file through KAFKA_BOOTSTRAP; each test uses its own topics/databases.

import { assertNodeVersion } from '@footfall/config';
import { footfallTopics, type LocalBroker, startLocalBroker } from '@footfall/kafka';
import pg from 'pg';

let broker: LocalBroker | undefined;

export async function globalSetup(): Promise<void> {
  assertNodeVersion();
  const adminUrl = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rows } = await client.query('SHOW server_version');
    console.error(`[test setup] PostgreSQL ${rows[0].server_version} at ${new URL(adminUrl).host}`);
  } catch (error) {
    throw new Error(
      `The tests need a real PostgreSQL server at ${adminUrl} (set TEST_DATABASE_ADMIN_URL to a URL ` +
        `allowed to CREATE DATABASE): ${(error as Error).message}`,
    );
  } finally {
    await client.end().catch(() => {});
  }
  process.env.TEST_DATABASE_ADMIN_URL = adminUrl;

  if (process.env.TEST_KAFKA_BOOTSTRAP) {
    process.env.KAFKA_BOOTSTRAP = process.env.TEST_KAFKA_BOOTSTRAP;
    return;
  }
  broker = await startLocalBroker({
    topics: footfallTopics(6),
    onProgress: (line) => console.error(`[test setup] ${line}`),
  });
  const t = broker.timings;
  console.error(
    `[test setup] Kafka ${broker.bootstrap}: jars ${t.fetchMs.toFixed(0)} ms, format ${t.formatMs.toFixed(0)} ms, ` +
      `start ${t.startMs.toFixed(0)} ms, topics ${t.topicsMs.toFixed(0)} ms`,
  );
  process.env.KAFKA_BOOTSTRAP = broker.bootstrap;
}

export async function globalTeardown(): Promise<void> {
  await broker?.close();
}
