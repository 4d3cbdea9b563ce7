// Issue 19 item 3: several instances, the same answers. A ground-truth scenario (signed uploads of
// simulated phones, with late, duplicate and out-of-order pings) through 2 ingest, 2 processor and
// 2 sink instances (each its own OS process) against one broker, with a rolling restart of each service
// in the middle: graceful SIGTERM, one instance at a time, the next only once the restarted one is ready.
// Every answer of the API must then equal the exact expectation of the ground truth (the definitions of
// docs/insights.md over exactly the accepted pings with 6 partitions: what the single-instance run of
// test/e2e gives), and no instance may die or stop other than gracefully.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptedPings, localOffsetFor, type PingUploader, runSimulation } from '@footfall/simulator';
import { type AnswerSource, eventuallyExact } from '../support/answers.ts';
import { startCluster } from './cluster.ts';

const SEED = Number(process.env.MULTI_SEED ?? 20261202);
const DEVICES = 40;
const WINDOW_MS = 60 * 60_000;

// Its own time budget: six restarts take 1.5–3 min on a loaded 2-core machine.
test(`2 ingest, 2 processors, 2 sinks with a rolling restart give the exact answers (seed ${SEED})`, {
  timeout: 10 * 60_000,
}, async (t) => {
  const cluster = await startCluster({ instances: 2, partitions: 6 });
  t.after(() => cluster.close());
  const inner = await cluster.uploader();

  // The rolling restart starts once a fifth of the window is uploaded. Restart k of n must be done
  // before pings past the (k+1)-th n-th of the next three fifths are uploaded (backpressure, no timing):
  // each restart happens while pings flow, and the last fifth goes through restarted instances only.
  const endMs = Math.floor(Date.now() / 1000) * 1000;
  const rollAtMs = endMs - (WINDOW_MS * 4) / 5;
  const steps = [...cluster.ingest, ...cluster.processor, ...cluster.sink];
  const sliceMs = (WINDOW_MS * 3) / 5 / steps.length;
  const done = steps.map(() => Promise.withResolvers<void>());
  for (const d of done) d.promise.catch(() => {});
  let accepted = 0;
  const restarts: { service: string; readyMs: number; pingsAccepted: number }[] = [];
  let rolling: Promise<void> | undefined;
  const roll = async () => {
    for (const [k, s] of steps.entries()) {
      const at = Date.now();
      const before = accepted;
      await s.restart();
      restarts.push({ service: s.name, readyMs: Date.now() - at, pingsAccepted: accepted - before });
      done[k]?.resolve();
    }
  };
  const uploader: PingUploader = {
    upload: async (simId, pings, signal) => {
      const t = Math.max(...pings.map((p) => p.eventTimeMs));
      if (t >= rollAtMs) {
        rolling ??= roll().catch((error: unknown) => {
          for (const d of done) d.reject(error);
        });
        const slice = Math.floor((t - rollAtMs) / sliceMs);
        if (slice >= 1) await done[Math.min(slice, steps.length) - 1]?.promise;
      }
      const outcome = await inner.upload(simId, pings, signal);
      accepted += acceptedPings(pings, outcome).length;
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
    // A weekday afternoon whatever the wall clock (weekly routines, docs/simulator.md).
    schedule: { localOffsetMs: localOffsetFor(endMs - WINDOW_MS) },
    concurrency: 8,
    ratePingsPerSec: Number(process.env.MULTI_RATE ?? 150),
    truth: { partitions: 6 },
  });
  await rolling;
  console.error(
    `[multi] rolling restart (SIGTERM → ready, pings accepted meanwhile): ${JSON.stringify(restarts)}`,
  );
  assert.equal(restarts.length, 6, 'every instance was restarted');
  for (const r of restarts) assert.ok(r.pingsAccepted > 0, `no pings accepted while ${r.service} restarted`);
  assert.equal(result.stats.failedBatches, 0, `uploads failed for good: ${result.stats.firstError}`);
  assert.ok(result.stats.retryBatches > 0 && result.stats.lateBatches > 0, 'duplicates and late pings');
  assert.ok(result.stats.pingsAccepted > 1000, `only ${result.stats.pingsAccepted} pings accepted`);

  const source: AnswerSource = {
    apiUrl: cluster.apiUrl,
    operatorToken: cluster.operatorToken,
    truth: result.truth,
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
});
