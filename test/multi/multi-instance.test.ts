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

  // The rolling restart starts once a fifth of the window is uploaded; the next three fifths are cut into
  // one slice per restart, and the last fifth follows. Uploads past the k-th slice wait until instance k
  // is down (backpressure, no timing): while it is down, released uploads are in flight, and the restart
  // waits for one of them to be accepted (an event) before it starts the instance again. Releasing the
  // next slice when an instance goes down, not when it is back, keeps pings flowing during every restart
  // however fast it is; the last fifth goes through restarted ingest and processor instances only.
  const endMs = Math.floor(Date.now() / 1000) * 1000;
  const rollAtMs = endMs - (WINDOW_MS * 4) / 5;
  const steps = [...cluster.ingest, ...cluster.processor, ...cluster.sink];
  const sliceMs = (WINDOW_MS * 3) / 5 / steps.length;
  const down = steps.map(() => Promise.withResolvers<void>());
  for (const d of down) d.promise.catch(() => {});
  let accepted = 0;
  let onAccepted = Promise.withResolvers<void>();
  const simulationDone = Promise.withResolvers<void>();
  const restarts: { service: string; downMs: number; pingsAccepted: number }[] = [];
  let rolling: Promise<void> | undefined;
  let rollError: unknown;
  const roll = async () => {
    for (const [k, s] of steps.entries()) {
      await s.stopGracefully();
      console.error(`[multi] ${s.name} ${k} down; waiting for an accepted upload`);
      const at = Date.now();
      const before = accepted;
      down[k]?.resolve();
      // An upload accepted while the instance is down (an event, not a hope that one lands in time).
      while (accepted === before) {
        const ended = await Promise.race([
          onAccepted.promise.then(() => false),
          simulationDone.promise.then(() => true),
        ]);
        if (ended && accepted === before)
          throw new Error(`no upload left to accept while ${s.name} was down`);
      }
      s.start();
      await s.ready();
      restarts.push({ service: s.name, downMs: Date.now() - at, pingsAccepted: accepted - before });
    }
  };
  const uploader: PingUploader = {
    upload: async (simId, pings, signal) => {
      const t = Math.max(...pings.map((p) => p.eventTimeMs));
      if (t >= rollAtMs) {
        rolling ??= roll().catch((error: unknown) => {
          rollError ??= error;
          for (const d of down) d.reject(error);
        });
        const slice = Math.floor((t - rollAtMs) / sliceMs);
        if (slice >= 1) await down[Math.min(slice, steps.length) - 1]?.promise;
      }
      const outcome = await inner.upload(simId, pings, signal);
      const n = acceptedPings(pings, outcome).length;
      if (n > 0) {
        accepted += n;
        onAccepted.resolve();
        onAccepted = Promise.withResolvers<void>();
      }
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
  }).finally(() => simulationDone.resolve());
  await rolling;
  if (rollError !== undefined) throw rollError;
  console.error(
    `[multi] rolling restart (stopped → ready again, pings accepted meanwhile): ${JSON.stringify(restarts)}`,
  );
  assert.equal(restarts.length, 6, 'every instance was restarted');
  for (const r of restarts) assert.ok(r.pingsAccepted > 0, `no pings accepted while ${r.service} was down`);
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
