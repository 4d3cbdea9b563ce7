import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { kafkaBootstrap, uniqueTopics, withSeed } from '@footfall/testing';
import { loadProcessorConfig, type ProcessorHandle, startProcessor } from '../src/index.ts';
import {
  committedOffsets,
  endOffsets,
  expectedView,
  generatePings,
  normalize,
  producePings,
  readLatest,
  waitCaughtUp,
} from './helpers.ts';

const CRASHING = fileURLToPath(new URL('./fixtures/crash-before-commit.ts', import.meta.url));

interface CrashPoint {
  transaction: number;
  liveRecords: number;
  outputs: number;
  offsets: Record<string, string>;
}

interface Crashed {
  env: Record<string, string>;
  topics: { ingestion: string; aggregated: string };
  groupId: string;
  pings: ReturnType<typeof generatePings>;
  half: number;
}

// Deterministic: the crash is not raced against the input. The first half is produced and committed,
// then the second half; the child kills itself (SIGKILL) inside the first transaction that carries
// second-half records, after sending its outputs and offsets and before committing. Nothing depends on
// timing: the crash point is a record count, and every wait is on offsets or process exit.
async function crashMidTransaction(
  t: TestContext,
  seed: number,
  transactionTimeoutMs: number,
  extraEnv: Record<string, string> = {},
): Promise<Crashed> {
  const topics = await uniqueTopics(6);
  const groupId = `g-crash-${randomBytes(4).toString('hex')}`;
  const env = {
    KAFKA_BOOTSTRAP: kafkaBootstrap(),
    TOPIC_INGESTION: topics.ingestion,
    TOPIC_AGGREGATED: topics.aggregated,
    GROUP_ID: groupId,
    INSTANCE_ID: `crash-${randomBytes(3).toString('hex')}`,
    OPS_PORT: '0',
    LOG_LEVEL: 'warn',
    EMIT_INTERVAL_MS: '200',
    // The reference (expectedView) has no idleness; a slow machine must not make gaps count.
    PROCESSOR_IDLE_TIMEOUT_MS: '0',
    ...extraEnv,
  };
  const pings = generatePings({ devices: 1000, pingsPerDevice: 30, startMs: Date.UTC(2025, 0, 15), seed });
  const half = Math.floor(pings.length / 2);
  await producePings(kafkaBootstrap(), topics.ingestion, pings.slice(0, half), 6);
  const firstHalfEnds = await endOffsets(kafkaBootstrap(), topics.ingestion);

  const output: string[] = [];
  const child: ChildProcess = spawn(process.execPath, [CRASHING], {
    env: {
      ...process.env,
      ...env,
      CRASH_AT_LIVE_RECORDS: String(half + 1),
      PROCESSOR_TRANSACTION_TIMEOUT_MS: String(transactionTimeoutMs),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = once(child, 'exit');

  // The first half is committed (the crash point cannot be reached by it), then the second half comes.
  await waitCaughtUp(kafkaBootstrap(), topics.ingestion, groupId, 120_000);
  await producePings(kafkaBootstrap(), topics.ingestion, pings.slice(half), 6);
  const [code, signal] = (await exited) as [number | null, string | null];
  const log = output.join('');
  assert.equal(
    signal,
    'SIGKILL',
    `the child crashed at the crash point (exit ${code}):\n${log.slice(-3000)}`,
  );
  const line = log.split('\n').find((l) => l.startsWith('crash-point '));
  assert.ok(line, 'the child reported its crash point');
  const point = JSON.parse(line.slice('crash-point '.length)) as CrashPoint;
  assert.ok(
    point.liveRecords > half,
    `crashed in a transaction with second-half records (${point.liveRecords})`,
  );
  assert.ok(point.outputs > 0, 'the crashed transaction had sent outputs');
  // The crashed transaction's offsets never became committed: the group is still at the first half.
  assert.deepEqual(
    await committedOffsets(kafkaBootstrap(), topics.ingestion, groupId, 6),
    firstHalfEnds.map((end) => (end > 0n ? end : -1n)),
    'committed offsets are those of the first half',
  );
  return { env, topics, groupId, pings, half };
}

/** The restarted processor restored the first half, resumed at the committed offsets, and its output equals a no-crash run. */
async function assertRestoredExactly(restarted: ProcessorHandle, crashed: Crashed): Promise<void> {
  const { pings, half, topics } = crashed;
  const restoredRecords = (await restarted.processor.metrics.restoreRecords.get()).values[0]?.value ?? 0;
  // Every first-half record lies within the restore horizon, so the state was rebuilt from all of them.
  assert.equal(restoredRecords, half, 'the restart restored state from the committed input');
  const live = await restarted.processor.metrics.consumed.get();
  const liveRecords = live.values.find((v) => v.labels.mode === 'live')?.value ?? 0;
  assert.equal(liveRecords, pings.length - half, 'and resumed at the committed offsets');

  const actual = normalize(await readLatest(kafkaBootstrap(), topics.aggregated));
  const expected = normalize(expectedView(pings, 6));
  assert.ok(expected.size > 100, `a meaningful dataset (${expected.size} keys)`);
  assert.equal(actual.size, expected.size);
  assert.deepEqual(actual, expected);
}

test('kill -9 between sending outputs and committing: restart restores state, resumes, equals a no-crash run', async (t) => {
  await withSeed(t, async (_random, seed) => {
    // A crashed transaction the broker would abort only after 2 min: longer than the restore waits for
    // stable committed offsets (~45 s), so the restart below restores only if it fences it at start.
    const crashed = await crashMidTransaction(t, seed, 120_000);
    // Restart with the same INSTANCE_ID: its InitProducerId at start fences (aborts) the crashed
    // transaction, whose pending offset commit would otherwise hold the committed offsets unstable for
    // its whole timeout (2 min), beyond what the restore waits for them.
    const restartedAt = performance.now();
    const restarted = await startProcessor(loadProcessorConfig(crashed.env));
    t.after(() => restarted.close());
    await waitCaughtUp(kafkaBootstrap(), crashed.topics.ingestion, crashed.groupId, 180_000);
    assert.ok(
      performance.now() - restartedAt < 120_000,
      'caught up before the crashed transaction could have timed out: it was fenced',
    );
    assert.equal(await failures(restarted), 0, 'the restore never found the offsets unstable');
    await assertRestoredExactly(restarted, crashed);
  });
});

test('a restore that finds the committed offsets unstable is retried until they are stable', async (t) => {
  await withSeed(t, async (_random, seed) => {
    // Another INSTANCE_ID cannot fence the crashed transaction: its offsets stay unstable until the
    // broker aborts it (its 30 s timeout plus the broker's abort check, up to 10 s). The new member gets
    // the partitions once the dead one's session (6 s) has expired, well before; its restore gives up
    // after 3 reads and must be retried until then (it used to leave the partitions without a task
    // until the next rebalance).
    const crashed = await crashMidTransaction(t, seed, 30_000, {
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      KAFKA_HEARTBEAT_INTERVAL_MS: '2000',
    });
    const env = { ...crashed.env, INSTANCE_ID: `other-${randomBytes(3).toString('hex')}` };
    const restarted = await startProcessor(loadProcessorConfig(env), { stableOffsetAttempts: 3 });
    t.after(() => restarted.close());
    await waitCaughtUp(kafkaBootstrap(), crashed.topics.ingestion, crashed.groupId, 180_000);
    assert.ok((await failures(restarted)) > 0, 'the restore found the offsets unstable at first');
    await assertRestoredExactly(restarted, crashed);
  });
});

async function failures(h: ProcessorHandle): Promise<number> {
  return (await h.processor.metrics.restoreFailures.get()).values[0]?.value ?? 0;
}
