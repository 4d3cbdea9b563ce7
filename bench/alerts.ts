// Alert delivery latency: from the pipeline's update (the `aggregated` record's timestamp) to the
// webhook receiver, through apps/alerts as its own process (consumer → evaluation transaction →
// outbox → signed POST). Target (issue 16): p99 < 2 s.
//
// Workload: BENCH_ALERT_SUBS subscriptions ("cell above 10, hysteresis 2", each with a webhook) on cells
// of one city; each round first re-arms them all (3 devices; waits until every subscription saw it),
// then raises each watched cell to 12 devices, paced over ~1 s, while a background producer keeps
// updating BENCH_ALERT_BACKGROUND other cells of the same regions (the evaluator's ordinary work).
// Baseline in the same run: a plain consumer of the same topic, the same records' timestamp → read.
// Run: ./node_modules/.bin/node bench/alerts.ts   (BENCH_ALERT_ROUNDS, BENCH_ALERT_SUBS)

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { insertSubscription, newWebhookSecret, verifyWebhook } from '@footfall/alerts';
import { assertNodeVersion } from '@footfall/config';
import { AggregateRecord } from '@footfall/contracts';
import { openDatabase } from '@footfall/db';
import { bucketStart, cellOf, regionOf } from '@footfall/domain';
import { createTopics, javaPartition, startLocalBroker } from '@footfall/kafka';
import { createTemporaryDatabase, occRecord, waitFor } from '@footfall/testing';
import {
  Consumer,
  FetchIsolationLevels,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  Producer,
} from '@platformatic/kafka';

assertNodeVersion();
const ROUNDS = Number(process.env.BENCH_ALERT_ROUNDS ?? 10);
const SUBS = Number(process.env.BENCH_ALERT_SUBS ?? 100);
const BACKGROUND = Number(process.env.BENCH_ALERT_BACKGROUND ?? 500);
const PARTITIONS = 6;
const here = import.meta.dirname;
const main = join(here, '../apps/alerts/src/main.ts');

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
};
const summary = (xs: number[]) => ({
  n: xs.length,
  p50: pct(xs, 50),
  p95: pct(xs, 95),
  p99: pct(xs, 99),
  max: Math.max(...xs),
});

const loadStart = loadavg();
const broker = await startLocalBroker({
  readyTimeoutMs: 180_000,
  onProgress: (l) => console.error(`[kafka] ${l}`),
});
const tmp = await createTemporaryDatabase(undefined, 'footfall_bench');
const db = await openDatabase({ url: tmp.url, poolSize: 4 });
const topic = 'aggregated-alerts-bench';
await createTopics(broker.bootstrap, [{ name: topic, partitions: PARTITIONS }]);
let child: ChildProcess | undefined;
const producer = new Producer({
  clientId: 'bench-alerts',
  bootstrapBrokers: [broker.bootstrap],
  idempotent: true,
});
const raw = new Consumer({
  clientId: 'bench-raw',
  bootstrapBrokers: [broker.bootstrap],
  groupId: `raw-${Date.now()}`,
  isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  maxWaitTime: 500,
});

try {
  // Cells on a line through Berlin; background cells elsewhere in the same regions.
  const watched = Array.from({ length: SUBS }, (_, i) => cellOf(52.45 + i * 0.0013, 13.3 + (i % 10) * 0.002));
  const others = Array.from({ length: BACKGROUND }, (_, i) =>
    cellOf(52.45 + i * 0.00031, 13.45 + (i % 17) * 0.0017),
  );
  const secret = newWebhookSecret();

  const latencies: number[] = [];
  /** Record timestamp → alert written (evaluation) and alert written → receiver (delivery). */
  const evaluation: number[] = [];
  const delivery: number[] = [];
  const received = new Map<string, number>();
  let badSignatures = 0;
  const receiver = createServer((req, res) => {
    const at = Date.now();
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      try {
        const payload = verifyWebhook(secret, body, req.headers as Record<string, string>) as {
          id: string;
          sourceAtMs: number;
          firedAtMs: number;
        };
        if (!received.has(payload.id)) {
          latencies.push(at - payload.sourceAtMs);
          evaluation.push(payload.firedAtMs - payload.sourceAtMs);
          delivery.push(at - payload.firedAtMs);
        }
        received.set(payload.id, (received.get(payload.id) ?? 0) + 1);
      } catch {
        badSignatures++;
      }
      res.writeHead(204).end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const subs = [];
  for (const cell of watched) {
    subs.push(
      await insertSubscription(db, {
        kind: 'above',
        cell,
        placeId: null,
        region: regionOf(cell),
        threshold: 10,
        hysteresis: 2,
        webhookUrl: url,
        webhookSecret: secret,
      }),
    );
  }

  // Baseline: the same records read by a plain consumer (timestamp → read).
  const baseline: number[] = [];
  const rawStream = await raw.consume({
    topics: [topic],
    mode: MessagesStreamModes.LATEST,
    fallbackMode: MessagesStreamFallbackModes.LATEST,
  });
  const watchedSet = new Set(watched);
  rawStream.on('data', (m) => {
    const at = Date.now();
    const o = AggregateRecord.decode(m.value as Buffer).occupancy;
    if (o && o.devices === 12 && watchedSet.has(o.cell)) baseline.push(at - Number(m.timestamp));
  });

  child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      KAFKA_BOOTSTRAP: broker.bootstrap,
      TOPIC_AGGREGATED: topic,
      DATABASE_URL: tmp.url,
      GROUP_ID: 'alerts-bench',
      OPS_PORT: '0',
      ALERTS_WEBHOOK_ALLOW_PRIVATE: 'true',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });

  const send = (cells: readonly string[], devices: number, b: number) =>
    producer.send({
      messages: cells.map((cell) => {
        const r = occRecord({ cell, bucketStartMs: b, devices });
        return {
          topic,
          key: r.key,
          value: r.value as Buffer,
          partition: javaPartition(r.region, PARTITIONS),
        };
      }),
    });
  const conditions = async (want: boolean) =>
    (
      await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM alert_subscriptions WHERE condition = $1',
        [want],
      )
    ).rows[0]?.n;

  // One bucket for the whole run: each round revises it (3 → 12 → 3 …). Rounds that crossed a minute
  // boundary would otherwise wait for the previous bucket's 12 to age out (alerts see the larger of the
  // current and previous bucket: docs/alerts.md).
  const b = bucketStart(Date.now(), 60_000);
  let background = true;
  const backgroundLoop = (async () => {
    let n = 0;
    while (background) {
      await send(
        others.slice(n % others.length, (n % others.length) + 50),
        5 + (n % 20),
        bucketStart(Date.now(), 60_000),
      );
      n += 50;
      await new Promise((r) => setTimeout(r, 50)); // ~1000 background updates/s
    }
  })();

  for (let round = 0; round < ROUNDS; round++) {
    await send(watched, 3, b);
    await waitFor(
      `round ${round}: every subscription re-armed`,
      async () => (await conditions(false)) === SUBS,
      120_000,
      50,
    );
    const before = received.size;
    // Raise the watched cells, 10 at a time every 100 ms.
    for (let i = 0; i < watched.length; i += 10) {
      await producer.send({
        messages: watched.slice(i, i + 10).map((cell) => {
          const r = occRecord({ cell, bucketStartMs: b, devices: 12 });
          return {
            topic,
            key: r.key,
            value: r.value as Buffer,
            partition: javaPartition(r.region, PARTITIONS),
          };
        }),
      });
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitFor(
      `round ${round}: every alert delivered`,
      () => received.size === before + SUBS,
      120_000,
      50,
    );
    console.error(
      `[alerts] round ${round + 1}/${ROUNDS}: ${SUBS} alerts, p99 so far ${pct(latencies, 99)} ms`,
    );
  }
  background = false;
  await backgroundLoop;

  const duplicates = [...received.values()].filter((n) => n > 1).length;
  const result = {
    startedAt: new Date().toISOString(),
    rounds: ROUNDS,
    subscriptions: SUBS,
    backgroundCells: BACKGROUND,
    alertLatencyMs: summary(latencies),
    breakdownMs: { evaluation: summary(evaluation), delivery: summary(delivery) },
    target: { p99Ms: 2_000, met: pct(latencies, 99) < 2_000 },
    baselineRawConsumeMs: summary(baseline),
    ratioP99: Number((pct(latencies, 99) / pct(baseline, 99)).toFixed(2)),
    duplicateDeliveries: duplicates,
    badSignatures,
    loadavg: { start: loadStart, end: loadavg() },
  };
  await mkdir(join(here, 'results'), { recursive: true });
  await writeFile(join(here, 'results', 'alerts.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
  receiver.close();
} finally {
  child?.kill('SIGTERM');
  if (child && child.exitCode === null) await once(child, 'exit');
  await raw.close(true).catch(() => {});
  await producer.close().catch(() => {});
  await db.close();
  await tmp.drop();
  await broker.close();
}
