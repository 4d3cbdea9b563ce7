// Processor benchmark: raw consume ceiling (Kafka's ConsumerPerformance) vs our processor catching up on
// the same topic, then paced production at ~half that rate measuring append → aggregated-commit latency.
// Run: ./node_modules/.bin/node bench/processor.ts   (BENCH_PINGS, BENCH_DEVICES, BENCH_PACED_S to tune;
// BENCH_LONG=1: a 10-minute paced run for the RSS slope; BENCH_CPU_PROF=dir: --cpu-prof of the catch-up)

import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertNodeVersion } from '@footfall/config';
import { consumerPerformance, createTopics, freePort, startLocalBroker } from '@footfall/kafka';
import { Producer } from '@platformatic/kafka';
import {
  committedAndEnd,
  histogramQuantile,
  measure,
  metricSum,
  PingFixture,
  scrape,
  slope,
  startProcessorChild as startProcessor,
  waitUntil,
} from './processor-support.ts';

assertNodeVersion();
const here = import.meta.dirname;
const N = Number(process.env.BENCH_PINGS ?? 1_000_000);
const DEVICES = Number(process.env.BENCH_DEVICES ?? 50_000);
const CELLS = 5_000;
const LONG = process.env.BENCH_LONG === '1';
const PACED_S = Number(process.env.BENCH_PACED_S ?? (LONG ? 600 : 20));
const CPU_PROF = process.env.BENCH_CPU_PROF;
const PACED_LATENESS_MS = process.env.BENCH_PACED_LATENESS_MS ?? '60000';
const PARTITIONS = 6;

const fixture = new PingFixture({ devices: DEVICES, cells: CELLS, partitions: PARTITIONS, seed: 42 });

const broker = await startLocalBroker({ heapMb: 1024, onProgress: (l) => console.error(l) });
const children: ChildProcess[] = [];
try {
  const bootstrap = broker.bootstrap;
  await createTopics(bootstrap, [
    { name: 'bench-in', partitions: PARTITIONS },
    { name: 'bench-out', partitions: PARTITIONS, configs: { 'cleanup.policy': 'compact,delete' } },
    { name: 'paced-in', partitions: PARTITIONS },
    { name: 'paced-out', partitions: PARTITIONS, configs: { 'cleanup.policy': 'compact,delete' } },
    { name: 'erasures', partitions: 1, configs: { 'cleanup.policy': 'compact' } },
    { name: 'places', partitions: 1, configs: { 'cleanup.policy': 'compact' } },
  ]);
  const startMs = Date.now() - 3_600_000;
  console.error(`filling bench-in with ${N} pings (${DEVICES} devices, ${CELLS} cells)…`);
  const fillRate = await fixture.fill(bootstrap, 'bench-in', N, startMs);
  console.error(`filled at ${fillRate.toFixed(0)} pings/s`);

  // (a) raw consume ceiling
  const raw = await consumerPerformance({ bootstrap, topic: 'bench-in', records: N });
  console.error(`ConsumerPerformance: ${raw.recordsPerSec.toFixed(0)} records/s`);

  // (b) our processor, one instance, from the beginning until caught up
  const opsPort = await freePort();
  const common = {
    KAFKA_BOOTSTRAP: bootstrap,
    LOG_LEVEL: 'warn',
    EMIT_INTERVAL_MS: '500',
  };
  const t0 = performance.now();
  const proc = startProcessor(
    {
      ...common,
      TOPIC_INGESTION: 'bench-in',
      TOPIC_AGGREGATED: 'bench-out',
      GROUP_ID: 'bench-catchup',
      INSTANCE_ID: 'bench-1',
      OPS_PORT: String(opsPort),
    },
    CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : [],
  );
  children.push(proc);
  let firstCommitAt = 0;
  await waitUntil(async () => {
    const [c, e] = await committedAndEnd(bootstrap, 'bench-in', 'bench-catchup');
    if (c > 0n && firstCommitAt === 0) firstCommitAt = performance.now();
    return c === e;
  }, 30 * 60_000);
  const catchupS = (performance.now() - t0) / 1000;
  const catchupText = await scrape(opsPort);
  const processorRate = N / catchupS;
  const devicesHeld = metricSum(catchupText, 'footfall_processor_state_devices');
  const heapUsed = metricSum(catchupText, 'footfall_nodejs_heap_size_used_bytes');
  const rss = metricSum(catchupText, 'footfall_process_resident_memory_bytes');
  const updates = metricSum(catchupText, 'footfall_processor_updates_total');
  const catchupMeasured = await measure(proc);
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  console.error(
    `processor catch-up: ${processorRate.toFixed(0)} pings/s (${catchupS.toFixed(1)} s incl. start-up)`,
  );

  // (c) paced production at ~half the processor's max rate, latency append → commit
  const pacedRate = Math.floor(processorRate / 2);
  const opsPort2 = await freePort();
  const paced = startProcessor({
    ...common,
    TOPIC_INGESTION: 'paced-in',
    TOPIC_AGGREGATED: 'paced-out',
    GROUP_ID: 'bench-paced',
    INSTANCE_ID: 'bench-2',
    OPS_PORT: String(opsPort2),
    ALLOWED_LATENESS_MS: PACED_LATENESS_MS,
    // Static membership: the restart below (same INSTANCE_ID) reclaims the partitions at once instead of
    // waiting for the killed member's session to expire (it would first get an empty assignment).
    PROCESSOR_STATIC_MEMBERSHIP: 'true',
  });
  children.push(paced);
  await waitUntil(
    async () => (await fetch(`http://127.0.0.1:${opsPort2}/readyz`).catch(() => undefined))?.ok === true,
    60_000,
  );
  const idleText = await scrape(opsPort2);
  // Idle baseline: the service with its clients, caches and code, and no state.
  const idle = await measure(paced);
  const producer = new Producer({
    clientId: 'bench-paced',
    bootstrapBrokers: [bootstrap],
    compression: 'lz4',
    acks: 1,
  });
  const tickMs = 50;
  const perTick = Math.max(1, Math.round((pacedRate * tickMs) / 1000));
  const pacedStart = performance.now();
  let sent = 0;
  let tick = 0;
  fixture.resetSequences(1_000_000);
  // RSS samples (no forced GC) ~30 times per run, at least 5 s apart; the slope is fitted after a
  // warm-up of a third of the run. The paced instance runs with ALLOWED_LATENESS_MS = PACED_LATENESS_MS
  // (default 1 min), so that its state (a lateness window of pings per device, fixed population) is
  // full after the warm-up: with the default 1 h the state legitimately grows for the first hour.
  const rssSamples: [number, number][] = [];
  const sampleEveryMs = Math.max(5_000, (PACED_S * 1000) / 30);
  let nextSampleAt = pacedStart;
  let sampling: Promise<unknown> = Promise.resolve();
  while (performance.now() - pacedStart < PACED_S * 1000) {
    if (performance.now() >= nextSampleAt) {
      nextSampleAt += sampleEveryMs;
      const elapsedS = (performance.now() - pacedStart) / 1000;
      // One measurement at a time (answers are matched to requests by order).
      sampling = sampling.then(() => measure(paced, false).then((m) => rssSamples.push([elapsedS, m.rss])));
    }
    const messages = [];
    for (let i = 0; i < perTick; i++, sent++)
      messages.push({ topic: 'paced-in', ...fixture.nextPing(sent % DEVICES, Date.now()) });
    await producer.send({ messages });
    tick++;
    const wait = pacedStart + tick * tickMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await producer.close();
  const achievedRate = sent / ((performance.now() - pacedStart) / 1000);
  await waitUntil(async () => {
    const [c, e] = await committedAndEnd(bootstrap, 'paced-in', 'bench-paced');
    return c === e;
  }, 10 * 60_000);
  const pacedText = await scrape(opsPort2);
  const p50 = histogramQuantile(pacedText, 'footfall_processor_emit_latency_seconds', 0.5);
  const p99 = histogramQuantile(pacedText, 'footfall_processor_emit_latency_seconds', 0.99);
  const pacedDevices = metricSum(pacedText, 'footfall_processor_state_devices');
  const heapDelta =
    metricSum(pacedText, 'footfall_nodejs_heap_size_used_bytes') -
    metricSum(idleText, 'footfall_nodejs_heap_size_used_bytes');
  await sampling;
  const pacedMeasured = await measure(paced);
  const warm = rssSamples.filter(([t]) => t >= PACED_S / 3);
  const rssSlopeMbPerMin = (slope(warm) * 60) / 1048576;

  // (d) restore: kill -9 the paced instance and restart it (same INSTANCE_ID); time until ready, and the
  // records it replayed. Restore replays the input within the horizon before the committed offset, so
  // its time is records-in-horizon / replay rate: scaled to 1 h at 20 k pings/s (72 M records) below.
  paced.kill('SIGKILL');
  await new Promise((r) => paced.once('exit', r));
  const opsPort3 = await freePort();
  const restoreStart = performance.now();
  const restarted = startProcessor({
    ...common,
    TOPIC_INGESTION: 'paced-in',
    TOPIC_AGGREGATED: 'paced-out',
    GROUP_ID: 'bench-paced',
    INSTANCE_ID: 'bench-2',
    OPS_PORT: String(opsPort3),
    ALLOWED_LATENESS_MS: PACED_LATENESS_MS,
    PROCESSOR_STATIC_MEMBERSHIP: 'true',
  });
  children.push(restarted);
  // Ready with every partition assigned (a member that owns nothing is ready too).
  await waitUntil(
    async () =>
      (await fetch(`http://127.0.0.1:${opsPort3}/readyz`).catch(() => undefined))?.ok === true &&
      metricSum(await scrape(opsPort3), 'footfall_processor_assigned_partitions') === PARTITIONS,
    30 * 60_000,
    100,
  );
  const restoreS = (performance.now() - restoreStart) / 1000;
  const restoreText = await scrape(opsPort3);
  const restoreRecords = metricSum(restoreText, 'footfall_processor_restore_records_total');
  restarted.kill('SIGTERM');
  await new Promise((r) => restarted.once('exit', r));
  const replayRate = restoreRecords / restoreS;
  const oneHourAt20k = 3_600 * 20_000;

  const perMillion = (bytes: number, devices: number) => (devices > 0 ? (bytes / devices) * 1e6 : Number.NaN);
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    pings: N,
    devices: DEVICES,
    cells: CELLS,
    partitions: PARTITIONS,
    fillPingsPerSec: Math.round(fillRate),
    rawConsumeRecordsPerSec: Math.round(raw.recordsPerSec),
    processorPingsPerSec: Math.round(processorRate),
    processorRatioToRaw: Number((processorRate / raw.recordsPerSec).toFixed(3)),
    catchupSeconds: Number(catchupS.toFixed(2)),
    updatesCommitted: updates,
    paced: {
      targetPingsPerSec: pacedRate,
      achievedPingsPerSec: Math.round(achievedRate),
      seconds: PACED_S,
      emitLatencyP50Ms: Math.round(p50 * 1000),
      emitLatencyP99Ms: Math.round(p99 * 1000),
    },
    restore: {
      records: restoreRecords,
      seconds: Number(restoreS.toFixed(2)),
      replayRecordsPerSec: Math.round(replayRate),
      secondsAfterOneHourAt20k: Number((oneHourAt20k / replayRate).toFixed(1)),
      method:
        'kill -9 of the paced instance, restart with the same INSTANCE_ID, time to /readyz; restore replays the records of the horizon before the committed offset, so its time scales with records in the horizon: 1 h at 20 k pings/s = 72 M records at the measured replay rate',
    },
    memory: {
      heapPerMillionDevicesBytes: Math.round(
        perMillion(catchupMeasured.heapUsed - idle.heapUsed, catchupMeasured.devices),
      ),
      pacedHeapPerMillionDevicesBytes: Math.round(
        perMillion(pacedMeasured.heapUsed - idle.heapUsed, pacedMeasured.devices),
      ),
      idleHeapBytes: idle.heapUsed,
      rssSlopeMbPerMin: Number(rssSlopeMbPerMin.toFixed(2)),
      rssSamples: warm.length,
      rssSlopeOverSeconds: PACED_S,
      catchup: { devicesHeld, rssBytes: rss, heapUsedBytes: heapUsed },
      heapUsedPerMillionDevicesBytes: Math.round(perMillion(heapUsed, devicesHeld)),
      rssPerMillionDevicesBytes: Math.round(perMillion(rss, devicesHeld)),
      pacedHeapDeltaPerMillionDevicesBytes: Math.round(perMillion(heapDelta, pacedDevices)),
      method:
        'heapPerMillionDevicesBytes: heap used after two full GCs in the processor child after catch-up, minus the same for an idle processor (no state), over devices held; paced: the same at the end of the paced run. rssSlopeMbPerMin: least-squares slope of RSS (after GC) sampled ~30 times (>= 2 s apart) over the last two thirds of the paced run (no forced GC; fixed device population; paced instance with ALLOWED_LATENESS_MS = BENCH_PACED_LATENESS_MS, default 60000, so the state window is full after warm-up; BENCH_LONG=1 for >= 10 min). heapUsedPerMillionDevicesBytes (older field): no GC, no baseline, an upper bound',
    },
    targets: {
      ratioToRawAtLeast: 0.5,
      p99BelowMs: 1000,
      heapPerMillionDevicesBytesAtMost: 5e8,
      rssSlopeMbPerMinBelow: 2,
      restoreSecondsAfterOneHourAt20kBelow: 10,
    },
  };
  const mb = (b: number) => `${(b / 1048576).toFixed(0)} MiB`;
  console.log('\n| measure | value |\n|---|---|');
  console.log(
    `| pings in topic | ${N.toLocaleString('en')} (${DEVICES} devices, ${CELLS} cells, ${PARTITIONS} partitions) |`,
  );
  console.log(
    `| Kafka ConsumerPerformance (raw ceiling) | ${results.rawConsumeRecordsPerSec.toLocaleString('en')} records/s |`,
  );
  console.log(
    `| processor catch-up (1 instance, incl. start) | ${results.processorPingsPerSec.toLocaleString('en')} pings/s |`,
  );
  console.log(`| ratio to raw (target >= 0.5) | ${results.processorRatioToRaw} |`);
  console.log(
    `| paced rate | ${results.paced.achievedPingsPerSec.toLocaleString('en')} pings/s for ${PACED_S} s |`,
  );
  console.log(
    `| emit latency p50 / p99 (target p99 < 1500 ms) | ${results.paced.emitLatencyP50Ms} / ${results.paced.emitLatencyP99Ms} ms |`,
  );
  console.log(`| state after catch-up | ${devicesHeld} devices, RSS ${mb(rss)}, heap ${mb(heapUsed)} |`);
  console.log(
    `| heap per 1M devices, idle baseline subtracted (target <= 500 MB) | ${mb(results.memory.heapPerMillionDevicesBytes)} |`,
  );
  console.log(`| RSS slope, paced, after warm-up (target < 2) | ${results.memory.rssSlopeMbPerMin} MB/min |`);
  console.log(
    `| restore: ${restoreRecords} records in ${restoreS.toFixed(1)} s; scaled to 1 h at 20 k/s (target < 10) | ${results.restore.secondsAfterOneHourAt20k} s |`,
  );
  console.log(`| heap per 1M devices (upper bound) | ${mb(results.memory.heapUsedPerMillionDevicesBytes)} |`);
  console.log(
    `| heap growth per 1M devices (paced) | ${mb(results.memory.pacedHeapDeltaPerMillionDevicesBytes)} |`,
  );
  await mkdir(join(here, 'results'), { recursive: true });
  await writeFile(join(here, 'results/processor.json'), `${JSON.stringify(results, null, 2)}\n`);
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await broker.close();
}
