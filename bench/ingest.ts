// Ingest benchmark: `./node_modules/.bin/node bench/ingest.ts` (BENCH_SECONDS=20, BENCH_CLIENTS=64).
//
// Starts its own Kafka (LocalBroker), runs the ingest service as a child process (so load generation
// does not share its event loop) and the load generator as another child process of N SDK clients
// uploading 50-ping batches. Phase 1: closed loop, as fast as possible → accepted pings/s, p50/p99.
// Phase 2: open loop paced at half of phase 1's rate → p50/p99 there. Then Kafka's own producer
// ceiling (ProducerPerformance, acks=all, idempotent, same record size as a PingRecord) for the ratio.
// Note: on the 2-core box the broker JVM, the service and the load generator all share both cores.

import { fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PingRecord } from '@footfall/contracts';
import { DeviceClient } from '@footfall/ingest/sdk';
import { freePort, producerPerformance, startLocalBroker } from '@footfall/kafka';

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
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

/** Load-generator mode (runs in the child process). */
async function load(): Promise<void> {
  const target = process.env.TARGET as string;
  const seconds = Number(process.env.SECONDS);
  const clients = Number(process.env.CLIENTS);
  const rate = Number(process.env.RATE_BATCHES_PER_SEC); // 0 = closed loop
  const devices = await Promise.all(
    Array.from({ length: clients }, async () => {
      const c = new DeviceClient({ target, maxAttempts: 1 });
      await c.enroll();
      return c;
    }),
  );
  const lat = 52.52;
  const lon = 13.405;
  const pings = () => {
    const now = Date.now();
    return Array.from({ length: BATCH }, (_, i) => ({
      eventTimeMs: now - i * 1000,
      latitude: lat + (Math.random() - 0.5) * 0.4,
      longitude: lon + (Math.random() - 0.5) * 0.6,
      accuracyM: 10 + Math.random() * 20,
    }));
  };
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let accepted = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  const one = async (c: DeviceClient, t0: number) => {
    try {
      const r = await c.upload(pings());
      accepted += r.accepted;
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
      devices.map(async (c) => {
        while (performance.now() < end) await one(c, performance.now());
      }),
    );
  } else {
    // Open loop: batch k is due at started + k/rate; latency counts from when it was due.
    const pending: Promise<void>[] = [];
    let k = 0;
    while (true) {
      const due = started + (k * 1000) / rate;
      if (due >= end) break;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      pending.push(one(devices[k % devices.length] as DeviceClient, due));
      k++;
    }
    await Promise.all(pending);
  }
  const took = (performance.now() - started) / 1000;
  for (const c of devices) c.close();
  latencies.sort((a, b) => a - b);
  const result: LoadResult = {
    seconds: took,
    batches: latencies.length,
    pings: accepted,
    errors,
    p50Ms: pct(latencies, 50),
    p99Ms: pct(latencies, 99),
    pingsPerSec: accepted / took,
  };
  process.send?.(result);
}

function runLoad(env: Record<string, string>): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--load'], {
      env: { ...process.env, ...env },
      stdio: 'inherit',
    });
    child.once('message', (m) => resolve(m as LoadResult));
    child.once('exit', (code) =>
      code === 0 ? undefined : reject(new Error(`load generator exited ${code}`)),
    );
  });
}

async function main(): Promise<void> {
  const seconds = Number(process.env.BENCH_SECONDS ?? 20);
  const clients = Number(process.env.BENCH_CLIENTS ?? 64);
  const partitions = 6;
  console.error('starting Kafka…');
  const broker = await startLocalBroker({
    heapMb: 768,
    topics: [
      { name: 'ingestion', partitions },
      { name: 'perf', partitions },
    ],
  });
  const [grpcPort, opsPort] = [await freePort(), await freePort()];
  const service = fork(join(here, '../apps/ingest/src/main.ts'), [], {
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
    console.error(`phase 1: ${clients} clients, closed loop, ${seconds} s…`);
    const max = await runLoad({
      TARGET: target,
      SECONDS: String(seconds),
      CLIENTS: String(clients),
      RATE_BATCHES_PER_SEC: '0',
    });
    const halfRate = max.pingsPerSec / 2 / BATCH;
    console.error(`phase 2: paced at ${halfRate.toFixed(0)} batches/s, ${seconds} s…`);
    const half = await runLoad({
      TARGET: target,
      SECONDS: String(seconds),
      CLIENTS: String(clients),
      RATE_BATCHES_PER_SEC: String(halfRate),
    });
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
    const kafka = await producerPerformance({
      bootstrap: broker.bootstrap,
      topic: 'perf',
      records: 2_000_000,
      recordSizeBytes: recordSize,
    });

    const result = {
      date: new Date().toISOString(),
      cpus: (await import('node:os')).cpus().length,
      seconds,
      clients,
      batchPings: BATCH,
      max,
      halfRate: half,
      avgRecordsPerProducerSend: avgSendRecords,
      kafka,
      ratio: max.pingsPerSec / kafka.recordsPerSec,
      targets: { ratioAtLeast: 0.5, p99AtHalfRateMsBelow: 50 },
    };
    const row = (name: string, r: LoadResult) =>
      `| ${name.padEnd(22)} | ${r.pingsPerSec.toFixed(0).padStart(10)} | ${r.p50Ms.toFixed(1).padStart(7)} | ${r.p99Ms.toFixed(1).padStart(7)} | ${JSON.stringify(r.errors)} |`;
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
