import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { kafkaBootstrap, uniqueTopics, waitFor } from '@footfall/testing';
import { Consumer } from '@platformatic/kafka';
import { expectedView, generatePings, normalize, producePings, readLatest, waitCaughtUp } from './helpers.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

function startChild(env: Record<string, string>): { child: ChildProcess; output: string[] } {
  const output: string[] = [];
  const child = spawn(process.execPath, [MAIN], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  return { child, output };
}

async function committedTotal(groupId: string, topic: string): Promise<bigint> {
  const consumer = new Consumer({ clientId: 'crash-probe', groupId, bootstrapBrokers: [kafkaBootstrap()] });
  try {
    const c = await consumer.listCommittedOffsets({ topics: [{ topic, partitions: [0, 1, 2, 3, 4, 5] }] });
    return (c.get(topic) ?? []).reduce((a, b) => a + (b > 0n ? b : 0n), 0n);
  } finally {
    await consumer.close();
  }
}

test('kill -9 mid-stream, restart: final aggregates equal a no-crash run (no loss, no double count)', async (t) => {
  const topics = await uniqueTopics(6);
  const groupId = `g-crash-${randomBytes(4).toString('hex')}`;
  const env = {
    KAFKA_BOOTSTRAP: kafkaBootstrap(),
    TOPIC_INGESTION: topics.ingestion,
    TOPIC_AGGREGATED: topics.aggregated,
    GROUP_ID: groupId,
    INSTANCE_ID: `crash-${randomBytes(3).toString('hex')}`,
    OPS_PORT: '0',
    LOG_LEVEL: 'info',
    EMIT_INTERVAL_MS: '200',
  };
  const pings = generatePings({
    devices: 1500,
    pingsPerDevice: 40,
    startMs: Date.UTC(2025, 0, 15),
    seed: 11,
  });
  const half = Math.floor(pings.length / 2);
  let run = startChild(env);
  const children: ChildProcess[] = [run.child];
  t.after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });

  // First half, paced, while the processor runs; kill it as soon as some (not all) work is committed.
  const producing = (async () => {
    for (let i = 0; i < half; i += 3_000) {
      await producePings(kafkaBootstrap(), topics.ingestion, pings.slice(i, Math.min(half, i + 3_000)), 6);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const atKill = await waitFor(
    'a first committed transaction',
    async () => {
      const n = await committedTotal(groupId, topics.ingestion);
      return n > 0n ? n : undefined;
    },
    60_000,
    20,
  );
  run.child.kill('SIGKILL');
  await new Promise((r) => run.child.once('exit', r));
  await producing;
  assert.ok(atKill < BigInt(half), `killed mid-stream (committed ${atKill} of ${half} produced so far)`);

  // Second half while nothing runs, then restart with the same instance id (fences the old transaction).
  await producePings(kafkaBootstrap(), topics.ingestion, pings.slice(half), 6);
  run = startChild(env);
  children.push(run.child);
  try {
    await waitCaughtUp(kafkaBootstrap(), topics.ingestion, groupId, 180_000);
  } catch (error) {
    console.error(run.output.join('').slice(-4000));
    throw error;
  }
  const actual = normalize(await readLatest(kafkaBootstrap(), topics.aggregated));
  const expected = normalize(expectedView(pings, 6));
  assert.equal(actual.size, expected.size);
  assert.deepEqual(actual, expected);
  assert.match(run.output.join(''), /partition state rebuilding/);
  run.child.kill('SIGTERM');
  await new Promise((r) => run.child.once('exit', r));
});
