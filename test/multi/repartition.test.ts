// Issue 19 item 4: changing the partition count of `ingestion` from 6 to 12 under load, by the
// procedure of docs/operations.md ("Changing the partition count of ingestion"), gives no wrong or lost
// counts, with the default JITTER_RING. 2 ingest, 2 processors (generation 1, `ingestion`, 6
// partitions) and a sink run a ground-truth scenario; while pings flow:
//   1. `<ingestion>.v2` is created with 12 partitions; ingest is rolled with TOPIC_INGESTION_NEXT
//      (dual-write). The cut-over C = the first bucket boundary a bucket ahead of every upload so far.
//   2. Generation 1 is rolled with OUTPUT_UNTIL_MS=C; generation 2 (2 processors, own group, the new
//      topic) starts with OUTPUT_FROM_MS=C and TOPIC_INGESTION_WARM=<ingestion>: each of its partitions
//      first replays the old topic's records of its regions, then reads the new topic from its start.
//   3. When generation 1 reports every output before C final (output_pending_partitions 0 on every
//      instance), ingest is rolled to write only the new topic and generation 1 is stopped.
// Uploads past each step's point wait for that step (backpressure, no timing). Every answer must then
// equal the exact expectation: the 6-partition ground truth before C, the 12-partition one from C on.
// REPARTITION_WARM=- runs generation 2 without the warm (the test then fails: docs/operations.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Ping } from '@footfall/contracts';
import { createTopics } from '@footfall/kafka';
import { acceptedPings, GroundTruth, type PingUploader, runSimulation } from '@footfall/simulator';
import { type ServiceProcess, waitFor } from '@footfall/testing';
import { type AnswerSource, eventuallyExact } from '../support/answers.ts';
import { startCluster } from './cluster.ts';
import { SplitTruth } from './split-truth.ts';

const SEED = Number(process.env.REPARTITION_SEED ?? 20261203);
const DEVICES = 30;
const MIN = 60_000;
const WINDOW_MS = 210 * MIN;
const BUCKET_MS = MIN;
const WARM = process.env.REPARTITION_WARM ?? 'on';
// Lateness and gap shorter than the defaults so that the whole procedure fits one simulated window,
// with phones that upload at most ~6 min late: far from the lateness edge, where the order of
// concurrent uploads (acknowledgement order here, log order in the pipeline) would matter. JITTER_RING
// is the default (1): a stay's anchor depends on the chain of earlier stays, which generation 2 knows
// from its warm.
const aggregator = {
  allowedLatenessMs: 30 * MIN,
  presenceMaxGapMs: 5 * MIN,
  bucketMs: BUCKET_MS,
};
const processorEnv = {
  ALLOWED_LATENESS_MS: String(aggregator.allowedLatenessMs),
  PRESENCE_MAX_GAP_MS: String(aggregator.presenceMaxGapMs),
  RESTORE_MARGIN_MS: '0',
};

async function gauge(p: ServiceProcess, name: string): Promise<number> {
  const text = await (await fetch(p.readyUrl.replace('/readyz', '/metrics'))).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  const v = m?.[1];
  return v === '+Inf'
    ? Number.POSITIVE_INFINITY
    : v === '-Inf'
      ? Number.NEGATIVE_INFINITY
      : Number(v ?? Number.NaN);
}
const outputPending = (p: ServiceProcess) => gauge(p, 'footfall_processor_output_pending_partitions');

// Its own time budget: ten service restarts and two drains take 3–7 min on a loaded 2-core machine.
test(`ingestion 6 → 12 partitions under load gives the exact answers (seed ${SEED})`, {
  timeout: 15 * 60_000,
}, async (t) => {
  const cluster = await startCluster({ instances: 2, sinks: 1, partitions: 6, processorEnv });
  t.after(() => cluster.close());
  const next = `${cluster.topics.ingestion}.v2`;
  await createTopics(cluster.bootstrap, [{ name: next, partitions: 12 }]);
  const inner = await cluster.uploader();

  const endMs = Math.floor(Date.now() / 1000) * 1000;
  const fromMs = endMs - WINDOW_MS;
  const dualAtMs = fromMs + 0.1 * WINDOW_MS;
  const dualGateMs = fromMs + 0.15 * WINDOW_MS;
  const switchGateMs = fromMs + 0.95 * WINDOW_MS;
  let maxAcceptedEventMs = Number.NEGATIVE_INFINITY;
  let cutoverMs: number | undefined;
  const log: string[] = [];
  const note = (s: string) => {
    log.push(s);
    console.error(`[repartition] ${s}`);
  };

  // Step 1: dual-write. Step 2: cut-over configured. Step 3: switch to the new topic, generation 1 off.
  const generation2: ServiceProcess[] = [];
  let maxSeenEventMs = Number.NEGATIVE_INFINITY;
  let dualFromMs = Number.NaN;
  const step1 = async () => {
    for (const s of cluster.ingest) {
      s.env.TOPIC_INGESTION_NEXT = next;
      await s.restart();
    }
    dualFromMs = maxAcceptedEventMs;
    note(`dual-write on at event time +${((dualFromMs - fromMs) / MIN).toFixed(1)} min`);
  };
  const chooseCutover = () => {
    // With the warm, generation 2's state is generation 1's re-keyed: C only has to be ahead of every
    // ping so far, so that generation 1 knows it before it sees a ping at or after it (the gate below).
    cutoverMs = Math.ceil((maxSeenEventMs + BUCKET_MS) / BUCKET_MS) * BUCKET_MS;
    note(
      `cut-over C = ${cutoverMs} (+${((cutoverMs - fromMs) / MIN).toFixed(1)} min, D + ${((cutoverMs - dualFromMs) / MIN).toFixed(1)} min)`,
    );
  };
  const step2 = async () => {
    const c = String(cutoverMs);
    for (const p of cluster.processor) {
      p.env.OUTPUT_UNTIL_MS = c;
      await p.restart();
    }
    for (const name of ['gen2-processor-0', 'gen2-processor-1']) {
      generation2.push(
        await cluster.addProcessor(name, {
          GROUP_ID: `${cluster.processor[0]?.env.GROUP_ID}-v2`,
          TOPIC_INGESTION: next,
          OUTPUT_FROM_MS: c,
          TOPIC_INGESTION_WARM: WARM === '-' ? '-' : cluster.topics.ingestion,
        }),
      );
    }
    for (const p of generation2) p.start();
    for (const p of generation2) await p.ready();
    let warmed = 0;
    for (const p of generation2) warmed += await gauge(p, 'footfall_processor_warm_records_total');
    note(`generation 1 emits before C, generation 2 from C; generation 2 warmed from ${warmed} old records`);
    if (WARM !== '-') assert.ok(warmed > 0, 'generation 2 warmed from the old topic');
  };
  const step3 = async () => {
    // Pings keep flowing meanwhile: generation 1's watermark passes C and its stays spanning C close.
    await waitFor(
      'generation 1 drained (every output before the cut-over final)',
      async () => {
        for (const p of cluster.processor) if ((await outputPending(p)) !== 0) return false;
        return true;
      },
      240_000,
      250,
    );
    note(`generation 1 drained at event time +${((maxAcceptedEventMs - fromMs) / MIN).toFixed(1)} min`);
    for (const s of cluster.ingest) {
      s.env.TOPIC_INGESTION = next;
      s.env.TOPIC_INGESTION_NEXT = '-';
      await s.restart();
    }
    for (const p of cluster.processor) {
      const exit = await p.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, 'generation 1 stops gracefully');
    }
    note('ingest writes only the new topic; generation 1 stopped');
  };
  let steps: Promise<void> | undefined;
  const stepDone = [
    Promise.withResolvers<void>(),
    Promise.withResolvers<void>(),
    Promise.withResolvers<void>(),
  ];
  for (const d of stepDone) d.promise.catch(() => {});
  const runSteps = async () => {
    try {
      await step1();
      stepDone[0]?.resolve();
      chooseCutover();
      await step2();
      stepDone[1]?.resolve();
      await step3();
      stepDone[2]?.resolve();
    } catch (error) {
      for (const d of stepDone) d.reject(error);
    }
  };

  const accepted: { simId: string; pings: readonly Ping[] }[] = [];
  const uploader: PingUploader = {
    upload: async (simId, pings, signal) => {
      const tMax = Math.max(...pings.map((p) => p.eventTimeMs));
      if (tMax > maxSeenEventMs) maxSeenEventMs = tMax;
      if (tMax >= dualAtMs) steps ??= runSteps();
      if (tMax >= dualGateMs) await stepDone[0]?.promise;
      // Generation 1 must know C before it sees a ping at or after C.
      if (cutoverMs !== undefined && tMax >= cutoverMs - BUCKET_MS) await stepDone[1]?.promise;
      if (tMax >= switchGateMs) await stepDone[2]?.promise;
      const outcome = await inner.upload(simId, pings, signal);
      const ok = acceptedPings(pings, outcome);
      for (const p of ok) if (p.eventTimeMs > maxAcceptedEventMs) maxAcceptedEventMs = p.eventTimeMs;
      accepted.push({ simId, pings: ok });
      return outcome;
    },
    deviceIdOf: (simId) => inner.deviceIdOf(simId),
  };
  const result = await runSimulation({
    uploader,
    devices: DEVICES,
    durationMs: WINDOW_MS,
    endMs,
    seed: SEED,
    concurrency: 8,
    ratePingsPerSec: Number(process.env.REPARTITION_RATE ?? 200),
    // Short stays and no stadium event, so that the stays spanning C end within the window.
    event: null,
    phone: { offlineMs: [60_000, 300_000], maxBatchAgeMs: 60_000 },
    schedule: {
      // No weekly routine (its office and home stays last hours): every stay is short.
      routine: false,
      stayMinutes: {
        home: [5, 20],
        office: [5, 20],
        cafe: [5, 15],
        park: [5, 15],
        stadium: [5, 15],
        station: [2, 8],
        mall: [5, 15],
        market: [5, 15],
      },
    },
    truth: { partitions: 6, aggregator },
  });
  await steps;
  await stepDone[2]?.promise;
  assert.equal(result.stats.failedBatches, 0, `uploads failed for good: ${result.stats.firstError}`);
  assert.ok(result.stats.retryBatches > 0 && result.stats.lateBatches > 0, 'duplicates and late pings');
  assert.ok(cutoverMs !== undefined);

  // The new generation's expectation: the same accepted pings, in the same order, over 12 partitions.
  const truth12 = new GroundTruth(result.truth.city, {
    fromMs: result.truth.fromMs,
    toMs: result.truth.toMs,
    partitions: 12,
    aggregator,
  });
  for (const a of accepted) truth12.addAccepted(a.simId, a.pings);
  truth12.flush();
  const truth = new SplitTruth(result.truth, truth12, cutoverMs);
  const after = truth.expectedBuckets().filter((b) => b >= (cutoverMs as number));
  assert.ok(after.length > 10, `only ${after.length} buckets after the cut-over`);
  let differ = 0;
  for (const b of after) {
    for (const { cell } of truth12.expectedCells(b)) {
      if (result.truth.expectedOccupancy(cell, b) !== truth12.expectedOccupancy(cell, b)) differ++;
    }
  }
  note(
    `${after.length} buckets from C; ${differ} of their occupancy values differ between 6 and 12 partitions`,
  );

  const source: AnswerSource = {
    apiUrl: cluster.apiUrl,
    operatorToken: cluster.operatorToken,
    truth,
    serverIdOf: (simId) => {
      const id = result.deviceIds.get(simId);
      assert.ok(id, `no server id for ${simId}`);
      return id;
    },
  };
  await eventuallyExact(source, { timeoutMs: 120_000 });
  for (const s of cluster.all()) {
    assert.deepEqual(s.deaths, [], `${s.name} died: ${JSON.stringify(s.deaths)}`);
  }
  console.error(`[repartition] ${log.join('; ')}`);
});
