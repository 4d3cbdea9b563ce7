// Regression (issue 20, defect 4): the sink's session timeout was hard-coded to 20 s and it had no
// static membership, so a sink killed and restarted waited for its dead predecessor's session to expire
// (~20 s without freshness). With INSTANCE_ID kept across the restart (static membership) the new
// process takes the old member's place at once, whatever KAFKA_SESSION_TIMEOUT_MS is.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bucketStart, cellOf } from '@footfall/domain';
import {
  createTemporaryDatabase,
  kafkaBootstrap,
  occRecord,
  produce,
  uniqueTopics,
  waitFor,
} from '@footfall/testing';
import pg from 'pg';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
// Long enough that a process start on a loaded CI machine (10–20 s seen at load average 25+) stays far
// below it: the assertion is "did not wait for the old session to expire", not a latency target.
const SESSION_TIMEOUT_MS = 60_000;

test('a sink killed -9 and restarted with the same INSTANCE_ID resumes well within the session timeout', async (t) => {
  const temp = await createTemporaryDatabase();
  const admin = new pg.Client({ connectionString: temp.url });
  await admin.connect();
  const { aggregated: topic } = await uniqueTopics();
  const children: ChildProcess[] = [];
  t.after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await admin.end();
    await temp.drop();
  });
  const env = {
    ...process.env,
    KAFKA_BOOTSTRAP: kafkaBootstrap(),
    TOPIC_AGGREGATED: topic,
    DATABASE_URL: temp.url,
    GROUP_ID: `sink-restart-${topic}`,
    INSTANCE_ID: `sink-${randomBytes(3).toString('hex')}`,
    KAFKA_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
    KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
    SINK_FLUSH_INTERVAL_MS: '20',
    OPS_PORT: '0',
    LOG_LEVEL: 'info',
  };
  const start = async () => {
    const spawnedAt = Date.now();
    const child = spawn(process.execPath, [MAIN], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    await waitFor('the sink to start', () => out.includes('"sink started"'), 60_000, 50);
    const upMs = Date.now() - spawnedAt;
    console.error(`[restart] sink process up and subscribed in ${upMs} ms`);
    return { child, upMs };
  };
  const cell = cellOf(52.52, 13.405);
  const b0 = bucketStart(Date.now() - 3600_000, 60_000);
  const written = async (bucket: number) =>
    (
      await admin.query(
        `SELECT 1 FROM occupancy WHERE cell = $1 AND bucket_start = to_timestamp($2 / 1000.0)`,
        [cell, bucket],
      )
    ).rowCount === 1;

  const { child: first, upMs: firstUpMs } = await start();
  await produce(kafkaBootstrap(), topic, [occRecord({ cell, bucketStartMs: b0, devices: 5 })]);
  await waitFor('the first sink to write', () => written(b0), 60_000);
  first.kill('SIGKILL');
  await once(first, 'exit');

  const restartedAt = Date.now();
  await start();
  await produce(kafkaBootstrap(), topic, [occRecord({ cell, bucketStartMs: b0 + 60_000, devices: 6 })]);
  await waitFor('the restarted sink to write', () => written(b0 + 60_000), SESSION_TIMEOUT_MS + 30_000);
  const resumedMs = Date.now() - restartedAt;
  console.error(
    `[restart] sink resumed ${resumedMs} ms after a kill -9 (session timeout ${SESSION_TIMEOUT_MS} ms)`,
  );
  // Without static membership the restarted process is assigned only once the dead member's session
  // expired (>= SESSION_TIMEOUT_MS after the kill). With it, the new process takes the old member's place
  // as soon as it joins, so it resumes in about its own start-up time, whatever the machine's load.
  console.error(`[restart] first start took ${firstUpMs} ms`);
  assert.ok(
    resumedMs < SESSION_TIMEOUT_MS - 5_000,
    `resumed after ${resumedMs} ms: it waited for the old session (${SESSION_TIMEOUT_MS} ms) to expire`,
  );
});
