// Ingest benchmark: `./node_modules/.bin/node bench/ingest.ts` (BENCH_SECONDS=20, BENCH_CLIENTS=64).
//
// Starts its own Kafka (LocalBroker), runs the ingest service as a child process (so load generation
// does not share its event loop) and the load generator as another child process of N SDK clients
// uploading 50-ping batches. Phase 1: closed loop, as fast as possible → accepted pings/s, p50/p99.
// Phase 2: open loop paced at half of phase 1's rate → p50/p99 there. Then Kafka's own producer
// ceiling (ProducerPerformance, acks=all, idempotent, same record size as a PingRecord) for the ratio.
// Note: on the 2-core box the broker JVM, the service and the load generator all share both cores.

import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Ping, PingBatch, PingRecord, UploadRequest, UploadResponse } from '@footfall/contracts';
import { signBatch } from '@footfall/ingest/credentials';
import { DeviceClient, type DeviceIdentity, newPingId } from '@footfall/ingest/sdk';
import { freePort, producerPerformance, startLocalBroker } from '@footfall/kafka';
import { mulberry32 } from '@footfall/testing';
import * as grpc from '@grpc/grpc-js';

const here = dirname(fileURLToPath(import.meta.url));
const BATCH = 50;

interface LoadResult {
  seconds: number;
  batches: number;
  pings: number;
  errors: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  pingsPerSec: number;
  loadgenCpuSec: number;
  /** Open loop: how late the generator issued requests vs. their schedule (its own stalls), ms. */
  issueLagP50Ms?: number;
  issueLagP99Ms?: number;
  serviceCpuSec?: number;
  machineBusyCpuSec?: number;
  brokerCpuSec?: number;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

/**
 * Load-generator mode (runs in the child process).
 *
 * BENCH_LOADGEN=fast (default): each device owns a pool of pre-encoded ping lists (built once, before the
 * clock starts); per request only the small PingBatch header (device id, fresh nonce, sent_at_ms) is
 * encoded with the generated code and prepended -- protobuf concatenation appends the repeated `pings` --
 * then the whole batch is HMAC-signed and sent exactly like the SDK does. The server still verifies,
 * decodes and validates every ping; only the client's per-request work shrinks, so the benchmark measures
 * the service rather than its own load generator. BENCH_LOADGEN=sdk uses DeviceClient.upload (fresh pings
 * and full encode per request) for comparison.
 */
async function load(): Promise<void> {
  const target = process.env.TARGET as string;
  const seconds = Number(process.env.SECONDS);
  const clients = Number(process.env.CLIENTS);
  const rate = Number(process.env.RATE_BATCHES_PER_SEC); // 0 = closed loop
  const mode = process.env.BENCH_LOADGEN ?? 'fast';
  const devices = await Promise.all(
    Array.from({ length: clients }, async () => {
      const c = new DeviceClient({ target, maxAttempts: 1 });
      await c.enroll();
      return c;
    }),
  );
  const lat = 52.52;
  const lon = 13.405;
  const random = mulberry32(Number(process.env.BENCH_SEED ?? 1)); // same pings every run
  const pings = (now: number): Ping[] =>
    Array.from({ length: BATCH }, (_, i) => ({
      pingId: newPingId(),
      eventTimeMs: now - i * 1000,
      latitude: lat + (random() - 0.5) * 0.4,
      longitude: lon + (random() - 0.5) * 0.6,
      accuracyM: 10 + random() * 20,
      activity: 0,
    }));
  const POOL = 32;
  const built = Date.now();
  const pools = devices.map(() =>
    Array.from({ length: POOL }, () =>
      PingBatch.encode({ deviceId: '', nonce: '', sentAtMs: 0, pings: pings(built) }).finish(),
    ),
  );
  const noncePrefix = randomBytes(12).toString('base64url'); // 16 chars
  let nonceSeq = 0;
  let poolSeq = 0;
  const fastUpload = (c: DeviceClient, d: number): Promise<number> => {
    const identity = c.identity as DeviceIdentity;
    const header = PingBatch.encode({
      deviceId: identity.deviceId,
      nonce: `${noncePrefix}${(nonceSeq++).toString(36)}`,
      sentAtMs: Date.now(),
      pings: [],
    }).finish();
    const batch = Buffer.concat([header, pools[d]?.[poolSeq++ % POOL] as Uint8Array]);
    const body = Buffer.from(
      UploadRequest.encode({
        deviceId: identity.deviceId,
        batch,
        signature: signBatch(identity.deviceSecret, batch),
      }).finish(),
    );
    return new Promise((resolve, reject) => {
      raw[d]?.makeUnaryRequest(
        '/footfall.ingest.v1.IngestService/Upload',
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        new grpc.Metadata(),
        { deadline: Date.now() + 10_000 },
        (error, response) =>
          error
            ? reject(Object.assign(error, { errorCode: error.metadata?.get('footfall-error-code')[0] }))
            : resolve(UploadResponse.decode(response as Buffer).accepted),
      );
    });
  };
  const raw = devices.map(() => new grpc.Client(target, grpc.credentials.createInsecure()));
  await Promise.all(
    raw.map(
      (r) =>
        new Promise<void>((res, rej) => r.waitForReady(Date.now() + 10_000, (e) => (e ? rej(e) : res()))),
    ),
  );
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let accepted = 0;
  process.send?.('start');
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const end = started + seconds * 1000;
  const lags: number[] = []; // open loop: how late the generator issued each request (its own stalls)
  const one = async (d: number, t0: number) => {
    if (rate !== 0) lags.push(performance.now() - t0);
    try {
      // Await first: `accepted += await …` would read `accepted` before the await and lose updates.
      const n =
        mode === 'sdk'
          ? (await (devices[d] as DeviceClient).upload(pings(Date.now()))).accepted
          : await fastUpload(devices[d] as DeviceClient, d);
      accepted += n;
      latencies.push(performance.now() - t0);
    } catch (error) {
      const key =
        (error as { errorCode?: string; code?: number }).errorCode ??
        String((error as { code?: number }).code);
      errors[key] = (errors[key] ?? 0) + 1;
    }
  };
  if (rate === 0) {
    await Promise.all(
      devices.map(async (_, d) => {
        while (performance.now() < end) await one(d, performance.now());
      }),
    );
  } else {
    // Open loop: batch k is due at started + k/rate, whatever happened to earlier ones; latency counts
    // from when it was due (no coordinated omission: a stalled generator or server shows up as latency).
    const pending: Promise<void>[] = [];
    let k = 0;
    while (true) {
      const due = started + (k * 1000) / rate;
      if (due >= end) break;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      pending.push(one(k % devices.length, due));
      k++;
    }
    await Promise.all(pending);
  }
  const took = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  for (const c of devices) c.close();
  for (const r of raw) r.close();
  latencies.sort((a, b) => a - b);
  lags.sort((a, b) => a - b);
  const result: LoadResult = {
    seconds: took,
    batches: latencies.length,
    pings: accepted,
    errors,
    p50Ms: pct(latencies, 50),
    p99Ms: pct(latencies, 99),
    pingsPerSec: accepted / took,
    loadgenCpuSec: (cpu.user + cpu.system) / 1e6,
    ...(rate !== 0 && { issueLagP50Ms: pct(lags, 50), issueLagP99Ms: pct(lags, 99) }),
  };
  process.send?.(result);
}

/** The pid and its descendants (cluster workers), from /proc. */
function processTree(pid: number): number[] {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(' ')
      .filter(Boolean);
    return [pid, ...children.flatMap((c) => processTree(Number(c)))];
  } catch {
    return [pid];
  }
}

/** CPU seconds of a process and its descendants (the service in INGEST_WORKERS mode is several). */
function treeCpuSeconds(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + cpuSeconds(p), 0);
}

/** user+system CPU seconds of a process (Linux /proc), or of the whole machine (busy time) for 'all'. */
function cpuSeconds(pid: number | 'all'): number {
  if (pid === 'all') {
    const f =
      readFileSync('/proc/stat', 'utf8').split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    // user nice system idle iowait irq softirq steal: busy = total - idle - iowait
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return (total - (f[3] ?? 0) - (f[4] ?? 0)) / 100;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks (USER_HZ = 100)
  } catch {
    return Number.NaN;
  }
}

function runLoad(env: Record<string, string>, servicePid: number, brokerPid: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--load'], {
      env: { ...process.env, ...env },
      stdio: 'inherit',
    });
    let service0 = 0;
    let machine0 = 0;
    let broker0 = 0;
    child.on('message', (m) => {
      if (m === 'start') {
        service0 = treeCpuSeconds(servicePid);
        machine0 = cpuSeconds('all');
        broker0 = cpuSeconds(brokerPid);
        return;
      }
      resolve({
        ...(m as LoadResult),
        serviceCpuSec: treeCpuSeconds(servicePid) - service0,
        machineBusyCpuSec: cpuSeconds('all') - machine0,
        brokerCpuSec: cpuSeconds(brokerPid) - broker0,
      });
    });
    child.once('exit', (code) =>
      code === 0 ? undefined : reject(new Error(`load generator exited ${code}`)),
    );
  });
}

async function main(): Promise<void> {
  const loadStart = loadavg();
  const seconds = Number(process.env.BENCH_SECONDS ?? 20);
  const clients = Number(process.env.BENCH_CLIENTS ?? 64);
  const partitions = 6;
  console.error('starting Kafka…');
  const broker = await startLocalBroker({
    heapMb: 768,
    topics: [
      { name: 'ingestion', partitions },
      { name: 'perf', partitions },
      { name: 'erasures', partitions: 1, configs: { 'cleanup.policy': 'compact' } },
    ],
  });
  const [grpcPort, opsPort] = [await freePort(), await freePort()];
  const profileDir = process.env.BENCH_CPU_PROF_DIR;
  const service = fork(process.env.BENCH_SERVICE_MAIN ?? join(here, '../apps/ingest/src/main.ts'), [], {
    execArgv: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
    env: {
      ...process.env,
      KAFKA_BOOTSTRAP: broker.bootstrap,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(grpcPort),
      OPS_PORT: String(opsPort),
      LOG_LEVEL: 'warn',
      DEVICE_KEY_SECRET: 'bench-device-key-secret-0123456789abcdef',
      USER_TOKEN_SECRET: 'bench-user-token-secret-0123456789abcdef',
      ALLOW_DEV_ATTESTATION: 'true',
      // The load comes from BENCH_CLIENTS devices, each far above a phone's rate.
      RATE_LIMIT_PINGS_PER_SEC: '1000000',
      RATE_LIMIT_BURST_PINGS: '1000000',
      INGEST_WORKERS: process.env.BENCH_INGEST_WORKERS ?? '1',
      // ... and all of them enroll from one address.
      INGEST_ENROLL_PER_MIN: '1000000',
      INGEST_ENROLL_BURST: '1000000',
    },
    stdio: 'inherit',
  });
  try {
    const deadline = Date.now() + 30_000;
    while (
      (await fetch(`http://127.0.0.1:${opsPort}/readyz`).then(
        (r) => r.status,
        () => 0,
      )) !== 200
    ) {
      if (Date.now() > deadline) throw new Error('ingest did not become ready');
      await new Promise((r) => setTimeout(r, 200));
    }
    const target = `127.0.0.1:${grpcPort}`;
    // broker.pid is the guardian shell; the JVM is its child.
    const jvmPid = Number(
      readFileSync(`/proc/${broker.pid}/task/${broker.pid}/children`, 'utf8').trim().split(' ')[0],
    );
    console.error(`phase 1: ${clients} clients, closed loop, ${seconds} s…`);
    const max = await runLoad(
      {
        TARGET: target,
        SECONDS: String(seconds),
        CLIENTS: String(clients),
        RATE_BATCHES_PER_SEC: '0',
      },
      service.pid as number,
      jvmPid,
    );
    const halfRate = max.pingsPerSec / 2 / BATCH;
    console.error(`phase 2: paced at ${halfRate.toFixed(0)} batches/s, ${seconds} s…`);
    const half = await runLoad(
      {
        TARGET: target,
        SECONDS: String(seconds),
        CLIENTS: String(clients),
        RATE_BATCHES_PER_SEC: String(halfRate),
      },
      service.pid as number,
      jvmPid,
    );
    // BENCH_OVERLOAD_FACTOR=5: an open-loop phase at that multiple of phase 1's rate for
    // BENCH_OVERLOAD_SECONDS (default 120), sampling the service's RSS each second (issue 20, item 5).
    const overloadFactor = Number(process.env.BENCH_OVERLOAD_FACTOR ?? 0);
    if (overloadFactor > 0) {
      const overloadSeconds = Number(process.env.BENCH_OVERLOAD_SECONDS ?? 120);
      const rate = (max.pingsPerSec * overloadFactor) / BATCH;
      console.error(`overload: ${overloadFactor}× = ${rate.toFixed(0)} batches/s for ${overloadSeconds} s…`);
      const rss: number[] = [];
      const sampler = setInterval(() => {
        const status = readFileSync(`/proc/${service.pid}/status`, 'utf8');
        rss.push(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
      }, 1000);
      const over = await runLoad(
        {
          TARGET: target,
          SECONDS: String(overloadSeconds),
          CLIENTS: String(clients),
          RATE_BATCHES_PER_SEC: String(rate),
        },
        service.pid as number,
        jvmPid,
      );
      clearInterval(sampler);
      console.log(
        JSON.stringify({
          overload: {
            factor: overloadFactor,
            offeredPingsPerSec: rate * BATCH,
            acceptedPingsPerSec: over.pingsPerSec,
            errors: over.errors,
            p50Ms: over.p50Ms,
            p99Ms: over.p99Ms,
            serviceRssMiB: { first: rss[0], max: Math.max(...rss), last: rss.at(-1) },
          },
        }),
      );
    }
    const metrics = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
    const sendRecords =
      /footfall_ingest_produce_send_records_sum\{[^}]*\} ([\d.e+]+)[\s\S]*footfall_ingest_produce_send_records_count\{[^}]*\} (\d+)/.exec(
        metrics,
      );
    const avgSendRecords = sendRecords ? Number(sendRecords[1]) / Number(sendRecords[2]) : Number.NaN;

    const recordSize = PingRecord.encode({
      pingId: 'AbCdEfGhIjKlMnOpQrStUv',
      deviceId: 'k1.AbCdEfGhIjKlMnOpQrStUv',
      eventTimeMs: Date.now(),
      receivedAtMs: Date.now(),
      latitude: 52.5123456,
      longitude: 13.4123456,
      accuracyM: 12.5,
      cell: '8a1f1d48e6dffff',
      activity: 0,
    }).finish().length;
    console.error(`Kafka ProducerPerformance (${recordSize} B records, acks=all, idempotent)…`);
    // BENCH_KAFKA_RECORDS_PER_SEC=<n> skips ProducerPerformance (quick iterations; no results file).
    const skipKafka = Number(process.env.BENCH_KAFKA_RECORDS_PER_SEC ?? 0);
    const kafka = skipKafka
      ? { records: 0, recordsPerSec: skipKafka, mbPerSec: 0, avgLatencyMs: 0, p50Ms: 0, p99Ms: 0 }
      : await producerPerformance({
          bootstrap: broker.bootstrap,
          topic: 'perf',
          records: 2_000_000,
          recordSizeBytes: recordSize,
        });

    const result = {
      date: new Date().toISOString(),
      cpus: (await import('node:os')).cpus().length,
      /** The machine is shared: its load average (1, 5, 15 min) at the start and at the end of the run. */
      loadavg: { start: loadStart, end: loadavg() },
      workers: Number(process.env.BENCH_INGEST_WORKERS ?? 1),
      seconds,
      clients,
      batchPings: BATCH,
      max,
      halfRate: half,
      avgRecordsPerProducerSend: avgSendRecords,
      kafka,
      ratio: max.pingsPerSec / kafka.recordsPerSec,
      /** Service CPU (all its processes) per accepted ping at max load, µs. */
      serviceCpuMicrosPerPing: (1e6 * (max.serviceCpuSec ?? Number.NaN)) / max.pings,
      targets: { ratioAtLeast: 0.5, p99AtHalfRateMsBelow: 50, serviceCpuMicrosPerPingAtMost: 4 },
    };
    const row = (name: string, r: LoadResult) =>
      `| ${name.padEnd(22)} | ${r.pingsPerSec.toFixed(0).padStart(10)} | ${r.p50Ms.toFixed(1).padStart(7)} | ${r.p99Ms.toFixed(1).padStart(7)} | ${JSON.stringify(r.errors)} ${r.batches} batches |`;
    console.log('| phase                  |    pings/s |  p50 ms |  p99 ms | errors |');
    console.log('| ---------------------- | ---------: | ------: | ------: | ------ |');
    console.log(row('max (closed loop)', max));
    console.log(row('half rate (paced)', half));
    console.log(
      `| Kafka ProducerPerf     | ${kafka.recordsPerSec.toFixed(0).padStart(10)} | ${kafka.p50Ms.toFixed(1).padStart(7)} | ${kafka.p99Ms.toFixed(1).padStart(7)} | ${recordSize} B records |`,
    );
    console.log(
      `ratio ingest/Kafka = ${(result.ratio * 100).toFixed(1)}% (target ≥ 50%); p99 at half rate ${half.p99Ms.toFixed(1)} ms (target < 50 ms); avg records per producer send ${avgSendRecords.toFixed(0)}`,
    );
    for (const [name, r] of [
      ['max', max],
      ['half rate', half],
    ] as const) {
      const share = (x = Number.NaN) => `${((100 * x) / (r.machineBusyCpuSec ?? Number.NaN)).toFixed(0)}%`;
      console.log(
        `${name}: µs CPU per ping: service ${((1e6 * (r.serviceCpuSec ?? Number.NaN)) / r.pings).toFixed(1)}, load generator ${((1e6 * r.loadgenCpuSec) / r.pings).toFixed(1)}; machine busy ${r.machineBusyCpuSec?.toFixed(1)} CPU-s of ${(2 * r.seconds).toFixed(1)}; service ${r.serviceCpuSec?.toFixed(1)} (${share(r.serviceCpuSec)}), load generator ${r.loadgenCpuSec.toFixed(1)} (${share(r.loadgenCpuSec)}), Kafka JVM ${r.brokerCpuSec?.toFixed(1)} (${share(r.brokerCpuSec)}), other processes ${share((r.machineBusyCpuSec ?? 0) - (r.serviceCpuSec ?? 0) - r.loadgenCpuSec - (r.brokerCpuSec ?? 0))}`,
      );
    }
    console.log(
      `half rate: generator issue lag p50 ${half.issueLagP50Ms?.toFixed(1)} ms, p99 ${half.issueLagP99Ms?.toFixed(1)} ms (included in the latencies above)`,
    );
    console.log(`load average (1/5/15 min): start ${loadStart.join(' ')}, end ${loadavg().join(' ')}`);
    if (skipKafka) return;
    await mkdir(join(here, 'results'), { recursive: true });
    await writeFile(join(here, 'results/ingest.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    service.kill('SIGTERM');
    await new Promise((r) => service.once('exit', r));
    await broker.close();
  }
}

if (process.argv.includes('--load')) {
  await load();
} else {
  await main();
}
