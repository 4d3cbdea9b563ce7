// End-to-end acceptance test (issue #6): real Kafka broker + real PostgreSQL + all four services +
// the simulator uploading over gRPC with enrolled credentials. Every insight served by the API is
// compared with the simulator's ground truth:
// - exactly, against the definitions of docs/insights.md applied to the accepted pings (the domain
//   aggregator over exactly what ingest accepted: occupancy, top-K, time spent);
// - within the stated tolerances, against where the devices physically were.
// A second run restarts the processor in the middle and must give the same answers.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createIngestUploader, placeCells, runSimulation } from '@footfall/simulator';
import { type Stack, startStack } from '@footfall/stack';
import { createTemporaryDatabase, kafkaBootstrap, uniqueTopics } from '@footfall/testing';
import {
  type AnswerSource,
  BUCKET_MS,
  eventuallyExact,
  getJson,
  type Series,
  type UserTime,
} from '../support/answers.ts';

const DEVICES = 60;
const WINDOW_MS = 90 * 60_000;
const SEED = 20261125;
/** Cells sampled beyond the places' own when comparing answers. */
const SAMPLED_CELLS = 150;

type RunOutcome = AnswerSource;

async function runPipeline(
  t: import('node:test').TestContext,
  options: { restartProcessorMidway: boolean },
): Promise<RunOutcome> {
  const temp = await createTemporaryDatabase();
  let started: Stack | undefined;
  // One hook, stack first: after hooks run in registration order, and a sink whose database was dropped
  // under it retries its close forever.
  t.after(async () => {
    await started?.close();
    await temp.drop();
  });
  const topics = await uniqueTopics(6);
  const stack = await startStack({
    kafkaBootstrap: kafkaBootstrap(),
    topics: { ingestion: topics.ingestion, aggregated: topics.aggregated },
    databaseUrl: temp.url,
    groupSuffix: `-${randomBytes(4).toString('hex')}`,
    // Exact comparison needs raw counts: k-anonymity is tested on its own in apps/api.
    env: { K_ANONYMITY: '1', API_POPULAR_CACHE_MS: '0', EMIT_INTERVAL_MS: '200' },
    logLevel: process.env.E2E_LOG_LEVEL ?? 'warn',
  });
  started = stack;
  const uploader = await createIngestUploader({ target: stack.ingestTarget });
  t.after(() => uploader.close?.());

  let restarted: Promise<void> | undefined;
  const endMs = Math.floor(Date.now() / 1000) * 1000;
  const result = await runSimulation({
    uploader,
    devices: DEVICES,
    durationMs: WINDOW_MS,
    endMs,
    seed: SEED,
    concurrency: 16,
    truth: { partitions: 6 },
    onProgress: (p) => {
      // Restart once roughly half of the pings are in: the new processor must restore its state.
      if (options.restartProcessorMidway && !restarted && p.simTimeMs >= endMs - WINDOW_MS / 2) {
        restarted = stack.restartProcessor();
      }
    },
    progressIntervalMs: 100,
  });
  await restarted;
  if (options.restartProcessorMidway) assert.ok(restarted, 'the processor was restarted during the run');
  assert.equal(result.stats.failedBatches, 0, `uploads failed: ${result.stats.firstError}`);
  assert.ok(result.stats.pingsAccepted > 1000, `only ${result.stats.pingsAccepted} pings accepted`);
  assert.ok(result.stats.retryBatches > 0, 'the run includes retried (duplicate) uploads');
  assert.ok(result.stats.lateBatches > 0, 'the run includes late (offline) uploads');
  return {
    apiUrl: stack.apiUrl,
    operatorToken: stack.operatorToken,
    truth: result.truth,
    serverIdOf: (simId) => {
      const id = result.deviceIds.get(simId);
      assert.ok(id, `no server id for ${simId}`);
      return id;
    },
  };
}

/** Physical truth within tolerances (docs/simulator.md), measured through the API. */
async function physicalAccuracy(run: RunOutcome) {
  const { truth } = run;
  const buckets = truth.expectedBuckets();
  const from = truth.fromMs;
  const to = truth.toMs;
  const occ = new Map<string, Map<number, number>>();
  for (const place of truth.city.places) {
    for (const cell of placeCells(place, 1)) {
      const series = await getJson<Series>(
        run,
        `/v1/occupancy/series?cell=${cell}&from=${from}&to=${to}&step=${BUCKET_MS}`,
      );
      occ.set(cell, new Map(series.points.map((p) => [p.startMs, p.devices ?? 0])));
    }
  }
  const time = new Map<string, Map<string, number>>();
  for (const simId of new Set(truth.expectedVisits().map((v) => v.deviceId))) {
    const answer = await getJson<UserTime>(
      run,
      `/v1/users/${run.serverIdOf(simId)}/time?from=${from}&to=${to}`,
    );
    time.set(simId, new Map(answer.locations.map((l) => [l.cell, l.timeSpentMs])));
  }
  assert.ok(buckets.length > 0);
  return truth.compare({
    occupancy: (cell, b) => occ.get(cell)?.get(b) ?? 0,
    timeSpent: (simId, cells, f, t) => {
      assert.equal(f, from);
      assert.equal(t, to);
      return cells.reduce((sum, c) => sum + (time.get(simId)?.get(c) ?? 0), 0);
    },
  });
}

test('the whole pipeline serves the ground truth: exact by definition, close to physical reality', async (t) => {
  const run = await runPipeline(t, { restartProcessorMidway: false });
  await eventuallyExact(run, { sampledCells: SAMPLED_CELLS, expectProvisionalTail: true });
  const report = await physicalAccuracy(run);
  console.log(`[e2e] accuracy vs physical truth: ${JSON.stringify(report)}`);
  assert.ok(report.occupancy.samples > 20, 'enough busy place-buckets to judge occupancy');
  assert.ok(report.timeSpent.samples > 20, 'enough stays to judge time spent');
  assert.ok(report.passes, `outside tolerances: ${JSON.stringify(report)}`);
});

test('a processor restart in the middle of the run gives the same answers', async (t) => {
  const run = await runPipeline(t, { restartProcessorMidway: true });
  await eventuallyExact(run, { sampledCells: SAMPLED_CELLS, expectProvisionalTail: true });
});
