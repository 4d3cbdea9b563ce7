// Whole-pipeline benchmark (issue #6): simulator → ingest (gRPC) → Kafka → processor → Kafka → sink →
// PostgreSQL → API, every service its own process, broker and database brought up here.
//
// Measures, in one run on this machine:
// - sustained accepted pings/s and the processor's consumed events/s, per second;
// - freshness: a probe uploads pings with event time "now" at a fresh cell every second and polls the
//   API until the cell's occupancy shows them (accepted → visible in the API), p50/p99;
// - CPU and RSS per service (from /proc), and RSS growth over the run;
// - Kafka's own producer and consumer ceilings on the same broker (ProducerPerformance /
//   ConsumerPerformance from the same jars) as the baseline for ratios.
// Writes bench/results/pipeline.json and bench/results/pipeline.svg, prints a table.
//
// Env: BENCH_PIPELINE_SECONDS (default 300), BENCH_PIPELINE_RATE (pings/s offered, default 20000),
// BENCH_PIPELINE_DEVICES (default 20000).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertNodeVersion } from '@footfall/config';
import { cellOf, regionOf } from '@footfall/domain';
import { DeviceClient } from '@footfall/ingest';
import {
  consumerPerformance,
  createTopics,
  footfallTopics,
  freePort,
  javaPartition,
  producerPerformance,
  startLocalBroker,
} from '@footfall/kafka';
import { createCity } from '@footfall/simulator';
import { createTemporaryDatabase } from '@footfall/testing';

assertNodeVersion();
const SECONDS = Number(process.env.BENCH_PIPELINE_SECONDS ?? 300);
const RATE = Number(process.env.BENCH_PIPELINE_RATE ?? 20_000);
const DEVICES = Number(process.env.BENCH_PIPELINE_DEVICES ?? 20_000);
const PARTITIONS = 6;
const WARMUP_S = Math.min(10, Math.floor(SECONDS / 10));
const root = join(import.meta.dirname, '..');
const resultsDir = join(import.meta.dirname, 'results');
mkdirSync(resultsDir, { recursive: true });
const log = (line: string) => console.error(`[pipeline] ${line}`);

// ---------- helpers ----------
const CLK_TCK = 100; // Linux USER_HZ
function procSample(pid: number): { cpuTicks: number; rssMb: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuTicks = Number(fields[11]) + Number(fields[12]); // utime + stime
    const rssKb = Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
    return { cpuTicks, rssMb: rssKb / 1024 };
  } catch {
    return undefined;
  }
}

async function metricSum(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function waitReady(url: string, what: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await sleep(250);
  }
  throw new Error(`${what} not ready at ${url} after ${timeoutMs} ms`);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const children: ChildProcess[] = [];
function startService(name: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [join(root, `apps/${name}/src/main.ts`)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  child.once('exit', (code, signal) => {
    if (!stopping) log(`${name} exited early (code ${code}, signal ${signal})`);
  });
  return child;
}
let stopping = false;

// ---------- bring-up ----------
const broker = await startLocalBroker({ topics: footfallTopics(PARTITIONS), heapMb: 1024, onProgress: log });
const temp = await createTemporaryDatabase(undefined, 'footfall_bench');
try {
  // Kafka's own ceilings first, on the idle broker, with records the size of our PingRecords (~100 B).
  await createTopics(broker.bootstrap, [{ name: 'baseline', partitions: PARTITIONS }]);
  log('baseline: Kafka ProducerPerformance …');
  const producerBaseline = await producerPerformance({
    bootstrap: broker.bootstrap,
    topic: 'baseline',
    records: 1_000_000,
    recordSizeBytes: 100,
    props: { 'linger.ms': '5', 'batch.size': '65536' },
  });
  log('baseline: Kafka ConsumerPerformance …');
  const consumerBaseline = await consumerPerformance({
    bootstrap: broker.bootstrap,
    topic: 'baseline',
    records: 1_000_000,
  });

  const ports = {
    grpc: await freePort(),
    api: await freePort(),
    ingestOps: await freePort(),
    processorOps: await freePort(),
    sinkOps: await freePort(),
  };
  const operatorToken = randomBytes(24).toString('base64url');
  const env = {
    LOG_LEVEL: 'warn',
    KAFKA_BOOTSTRAP: broker.bootstrap,
    DATABASE_URL: temp.url,
    DEVICE_KEY_SECRET: randomBytes(32).toString('base64url'),
    USER_TOKEN_SECRET: randomBytes(32).toString('base64url'),
    OPERATOR_TOKEN: operatorToken,
    ALLOW_DEV_ATTESTATION: 'true',
    // Every simulated phone enrolls from this one address.
    INGEST_ENROLL_PER_MIN: '1000000',
    INGEST_ENROLL_BURST: '1000000',
    // The replay compresses hours into minutes: one device uploads far faster than a real phone.
    RATE_LIMIT_PINGS_PER_SEC: '5000',
    API_POPULAR_CACHE_MS: '0',
  };
  const services = {
    processor: startService('processor', { ...env, OPS_PORT: String(ports.processorOps) }),
    sink: startService('sink', { ...env, OPS_PORT: String(ports.sinkOps) }),
    api: startService('api', { ...env, API_PORT: String(ports.api) }),
    ingest: startService('ingest', {
      ...env,
      GRPC_PORT: String(ports.grpc),
      OPS_PORT: String(ports.ingestOps),
    }),
  };
  await waitReady(`http://127.0.0.1:${ports.processorOps}/readyz`, 'processor');
  await waitReady(`http://127.0.0.1:${ports.sinkOps}/readyz`, 'sink');
  await waitReady(`http://127.0.0.1:${ports.api}/readyz`, 'api');
  await waitReady(`http://127.0.0.1:${ports.ingestOps}/readyz`, 'ingest');
  const jvmPid = Number(
    execFileSync('pgrep', ['-P', String(broker.pid), 'java'])
      .toString()
      .trim()
      .split('\n')[0],
  );
  log(`services ready; offering ${RATE} pings/s from ${DEVICES} simulated devices for ${SECONDS} s`);

  // ---------- probe: freshness through a partition the city does not use ----------
  const city = createCity(7);
  const cityPartitions = new Set<number>();
  for (const place of city.places) cityPartitions.add(javaPartition(regionOf(place.cell, 5), PARTITIONS));
  let probeLat = 0;
  const probeLon = 20;
  while (cityPartitions.has(javaPartition(regionOf(cellOf(probeLat, probeLon, 10), 5), PARTITIONS)))
    probeLat += 1;
  const probeDevices = await Promise.all(
    Array.from({ length: 5 }, async () => {
      const client = new DeviceClient({ target: `127.0.0.1:${ports.grpc}` });
      await client.enroll({ platform: 'dev' });
      return client;
    }),
  );
  const freshness: { t: number; ms: number }[] = [];
  let probesMissed = 0;
  const t0 = Date.now();
  const probeLoop = async (signal: AbortSignal) => {
    let round = 0;
    while (!signal.aborted) {
      const roundStart = Date.now();
      round++;
      let lat = probeLat + round * 0.004; // ≥ 2 H3 rings apart at res 10: never the same stay
      while (cityPartitions.has(javaPartition(regionOf(cellOf(lat, probeLon, 10), 5), PARTITIONS)))
        lat += 0.5;
      const cell = cellOf(lat, probeLon, 10);
      const eventTimeMs = Date.now();
      await Promise.all(
        probeDevices.map((d) =>
          d.upload([{ eventTimeMs, latitude: lat, longitude: probeLon, accuracyM: 5 }]),
        ),
      );
      const acceptedAt = Date.now();
      void (async () => {
        const deadline = acceptedAt + 30_000;
        while (Date.now() < deadline) {
          try {
            const r = await fetch(
              `http://127.0.0.1:${ports.api}/v1/occupancy?cell=${cell}&at=${eventTimeMs}`,
            );
            const body = (await r.json()) as { devices: number | null };
            if ((body.devices ?? 0) >= 5) {
              freshness.push({ t: (acceptedAt - t0) / 1000, ms: Date.now() - acceptedAt });
              return;
            }
          } catch {}
          await sleep(25);
        }
        probesMissed++;
      })();
      await sleep(Math.max(0, 1000 - (Date.now() - roundStart)));
    }
  };

  // ---------- load + sampling ----------
  const load = spawn(process.execPath, [join(import.meta.dirname, 'pipeline-load.ts')], {
    env: {
      ...process.env,
      TARGET: `127.0.0.1:${ports.grpc}`,
      RATE: String(RATE),
      DEVICES: String(DEVICES),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(load);
  let loadDone = false;
  createInterface({ input: load.stdout }).on('line', (line) => {
    if (line.includes('"done"')) loadDone = true;
  });

  const pids: Record<string, number> = {
    ingest: services.ingest.pid as number,
    processor: services.processor.pid as number,
    sink: services.sink.pid as number,
    api: services.api.pid as number,
    kafka: jvmPid,
    loadgen: load.pid as number,
  };
  const timeline: {
    t: number;
    acceptedPerSec: number;
    processedPerSec: number;
    sinkRecordsPerSec: number;
    lag: number;
    cpu: Record<string, number>;
    rssMb: Record<string, number>;
  }[] = [];
  const probeController = new AbortController();
  const probing = probeLoop(probeController.signal);
  let prev = {
    at: Date.now(),
    accepted: 0,
    processed: 0,
    sinkRecords: 0,
    ticks: Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, procSample(pid)?.cpuTicks ?? 0])),
  };
  // The run lasts SECONDS after the ramp-up (enrolment of every device) ends.
  let endAt = Date.now() + SECONDS * 1000 + 120_000;
  let ramped = false;
  while (Date.now() < endAt && !loadDone) {
    await sleep(1000);
    const now = Date.now();
    const [accepted, processed, sinkRecords, lag] = await Promise.all([
      metricSum(`http://127.0.0.1:${ports.ingestOps}/metrics`, 'footfall_ingest_pings_accepted_total'),
      metricSum(`http://127.0.0.1:${ports.processorOps}/metrics`, 'footfall_processor_events_total'),
      metricSum(`http://127.0.0.1:${ports.sinkOps}/metrics`, 'footfall_sink_records_total'),
      metricSum(`http://127.0.0.1:${ports.processorOps}/metrics`, 'footfall_processor_consumer_lag'),
    ]);
    const dt = (now - prev.at) / 1000;
    const cpu: Record<string, number> = {};
    const rssMb: Record<string, number> = {};
    const ticks: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) {
      const s = procSample(pid);
      ticks[name] = s?.cpuTicks ?? 0;
      cpu[name] = Math.round((((ticks[name] ?? 0) - (prev.ticks[name] ?? 0)) / CLK_TCK / dt) * 100);
      rssMb[name] = Math.round(s?.rssMb ?? 0);
    }
    const point = {
      t: Math.round((now - t0) / 1000),
      acceptedPerSec: Math.round((accepted - prev.accepted) / dt),
      processedPerSec: Math.round((processed - prev.processed) / dt),
      sinkRecordsPerSec: Math.round((sinkRecords - prev.sinkRecords) / dt),
      lag,
      cpu,
      rssMb,
    };
    timeline.push(point);
    prev = { at: now, accepted, processed, sinkRecords, ticks };
    if (!ramped && point.acceptedPerSec >= RATE / 2) {
      ramped = true;
      endAt = now + SECONDS * 1000;
      log(`t=${point.t}s ramp-up done; measuring for ${SECONDS} s`);
    }
    if (point.t % 10 === 0) {
      const recent = freshness.slice(-10).map((f) => f.ms);
      log(
        `t=${point.t}s accepted ${point.acceptedPerSec}/s processed ${point.processedPerSec}/s lag ${lag} ` +
          `freshness(last 10) max ${recent.length ? Math.max(...recent) : '–'} ms cpu ${JSON.stringify(cpu)}`,
      );
    }
  }
  probeController.abort();
  await probing;
  load.kill('SIGTERM');
  await sleep(3000); // let the last probes land

  // ---------- summary ----------
  // The measured window starts once the load generator has enrolled its devices and reached half the
  // offered rate (ramp-up), plus the warm-up; everything after that counts, dips included.
  const rampEnd = timeline.find((p) => p.acceptedPerSec >= RATE / 2)?.t ?? 0;
  const measureFrom = rampEnd + WARMUP_S;
  const measured = timeline.filter((p) => p.t > measureFrom);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
  const fresh = freshness
    .filter((f) => f.t > measureFrom)
    .map((f) => f.ms)
    .sort((a, b) => a - b);
  // Memory growth over the second half of the measured window: the processor's state legitimately
  // grows until it holds a full lateness horizon of (replayed) event time, then must stay flat.
  const growth: Record<string, number> = {};
  const steady = measured.slice(Math.floor(measured.length / 2));
  if (steady.length > 20) {
    const a = steady.slice(0, 10);
    const b = steady.slice(-10);
    for (const name of Object.keys(pids)) {
      const minutes = ((b.at(-1)?.t ?? 0) - (a[0]?.t ?? 0)) / 60;
      growth[name] = Math.round(
        (mean(b.map((p) => p.rssMb[name] ?? 0)) - mean(a.map((p) => p.rssMb[name] ?? 0))) /
          Math.max(minutes, 1e-9),
      );
    }
  }
  const acceptedRate = mean(measured.map((p) => p.acceptedPerSec));
  const processedRate = mean(measured.map((p) => p.processedPerSec));
  const result = {
    config: {
      seconds: SECONDS,
      offeredRate: RATE,
      devices: DEVICES,
      partitions: PARTITIONS,
      warmupS: WARMUP_S,
      measureFromS: measureFrom,
    },
    kafkaBaseline: { producer: producerBaseline, consumer: consumerBaseline },
    sustained: {
      acceptedPingsPerSec: Math.round(acceptedRate),
      processedPingsPerSec: Math.round(processedRate),
      ratioToKafkaProducer: +(acceptedRate / producerBaseline.recordsPerSec).toFixed(3),
      ratioToKafkaConsumer: +(processedRate / consumerBaseline.recordsPerSec).toFixed(3),
      finalLag: timeline.at(-1)?.lag ?? Number.NaN,
    },
    freshnessMs: {
      probes: fresh.length,
      missed: probesMissed,
      p50: percentile(fresh, 50),
      p99: percentile(fresh, 99),
      max: fresh.at(-1) ?? Number.NaN,
    },
    cpuPercentMean: Object.fromEntries(
      Object.keys(pids).map((n) => [n, Math.round(mean(measured.map((p) => p.cpu[n] ?? 0)))]),
    ),
    rssMbEnd: timeline.at(-1)?.rssMb ?? {},
    rssGrowthMbPerMin: growth,
    timeline,
    freshness,
  };
  writeFileSync(join(resultsDir, 'pipeline.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(resultsDir, 'pipeline.svg'), chart(timeline, freshness));

  console.log('\nWhole pipeline (one machine, every service its own process)');
  console.table({
    'offered pings/s': { value: RATE },
    'accepted pings/s (mean after warm-up)': { value: result.sustained.acceptedPingsPerSec },
    'processed pings/s': { value: result.sustained.processedPingsPerSec },
    'Kafka ProducerPerformance rec/s': { value: Math.round(producerBaseline.recordsPerSec) },
    'Kafka ConsumerPerformance rec/s': { value: Math.round(consumerBaseline.recordsPerSec) },
    'accepted / Kafka producer': { value: result.sustained.ratioToKafkaProducer },
    'processed / Kafka consumer': { value: result.sustained.ratioToKafkaConsumer },
    'freshness p50 ms': { value: result.freshnessMs.p50 },
    'freshness p99 ms': { value: result.freshnessMs.p99 },
    'probes missed (>30 s)': { value: probesMissed },
  });
  console.table(
    Object.fromEntries(
      Object.keys(pids).map((n) => [
        n,
        {
          'cpu % (mean)': result.cpuPercentMean[n],
          'rss MB (end)': result.rssMbEnd[n],
          'rss MB/min': growth[n],
        },
      ]),
    ),
  );
  log('wrote bench/results/pipeline.json and bench/results/pipeline.svg');
  for (const d of probeDevices) d.close();
} finally {
  stopping = true;
  for (const child of children) child.kill('SIGTERM');
  await sleep(2000);
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await broker.close();
  await temp.drop().catch(() => {});
}

function chart(
  timeline: { t: number; acceptedPerSec: number; processedPerSec: number }[],
  fresh: { t: number; ms: number }[],
): string {
  const W = 900;
  const H = 220;
  const pad = 50;
  const maxT = Math.max(1, ...timeline.map((p) => p.t));
  const x = (t: number) => pad + (t / maxT) * (W - 2 * pad);
  const panel = (
    y0: number,
    title: string,
    series: { name: string; color: string; pts: [number, number][] }[],
  ) => {
    const maxY = Math.max(1, ...series.flatMap((s) => s.pts.map((p) => p[1])));
    const y = (v: number) => y0 + H - pad / 2 - (v / maxY) * (H - pad);
    const lines = series
      .map(
        (s, i) =>
          `<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${s.pts
            .map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`)
            .join(
              ' ',
            )}"/><text x="${W - pad - 150}" y="${y0 + 20 + i * 14}" fill="${s.color}" font-size="12">${s.name}</text>`,
      )
      .join('');
    return `<text x="${pad}" y="${y0 + 14}" font-size="13" font-weight="bold">${title}</text>
<line x1="${pad}" y1="${y(0)}" x2="${W - pad}" y2="${y(0)}" stroke="#999"/>
<text x="4" y="${y(maxY) + 4}" font-size="11">${Math.round(maxY)}</text><text x="4" y="${y(0)}" font-size="11">0</text>${lines}`;
  };
  const windowed: [number, number][] = [];
  const windowedP99: [number, number][] = [];
  for (let t = 0; t <= maxT; t += 10) {
    const xs = fresh
      .filter((f) => f.t >= t && f.t < t + 10)
      .map((f) => f.ms)
      .sort((a, b) => a - b);
    if (xs.length) {
      windowed.push([t + 5, percentile(xs, 50)]);
      windowedP99.push([t + 5, percentile(xs, 99)]);
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${2 * H + 30}" font-family="sans-serif" role="img">
<title>Footfall whole-pipeline benchmark: throughput and freshness over time</title>
<rect width="100%" height="100%" fill="white"/>
${panel(0, 'Throughput (pings/s)', [
  { name: 'accepted by ingest', color: '#1f77b4', pts: timeline.map((p) => [p.t, p.acceptedPerSec]) },
  { name: 'processed', color: '#ff7f0e', pts: timeline.map((p) => [p.t, p.processedPerSec]) },
])}
${panel(H, 'Freshness: accepted → visible in API (ms, 10 s windows)', [
  { name: 'p50', color: '#2ca02c', pts: windowed },
  { name: 'p99', color: '#d62728', pts: windowedP99 },
])}
<text x="${W / 2}" y="${2 * H + 20}" font-size="11" text-anchor="middle">seconds since start</text>
</svg>
`;
}
