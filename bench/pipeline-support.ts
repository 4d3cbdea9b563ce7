// Pieces of bench/pipeline.ts: Prometheus scraping, readiness, Kafka's own ceilings and the freshness
// probe.
//
// The probe: every second, 5 enrolled devices (k-anonymity = 5) each upload one ping at a fresh cell in
// a region whose partition the generated city does not use, with event time = now, and poll
// `GET /v1/occupancy` until the cell shows 5 devices (accepted → visible in the API). The probe partition
// is otherwise idle, but the processor, sink and API serve all partitions in one loop each, so the
// measurement includes the load's queueing.
import { setTimeout as sleep } from 'node:timers/promises';
import { cellOf, regionOf } from '@footfall/domain';
import { DeviceClient } from '@footfall/ingest';
import { consumerPerformance, createTopics, javaPartition, producerPerformance } from '@footfall/kafka';
import { createCity } from '@footfall/simulator';

export async function metricSum(url: string, name: string): Promise<number> {
  const text = await (await fetch(url)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export async function waitReady(url: string, what: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {}
    await sleep(250);
  }
  throw new Error(`${what} not ready at ${url} after ${timeoutMs} ms`);
}

/** Kafka's ProducerPerformance and ConsumerPerformance on the idle broker, ~100 B records. */
export async function kafkaBaselines(
  bootstrap: string,
  partitions: number,
  records: number,
  log: (s: string) => void,
) {
  await createTopics(bootstrap, [{ name: 'baseline', partitions }]);
  log('baseline: Kafka ProducerPerformance …');
  const producer = await producerPerformance({
    bootstrap,
    topic: 'baseline',
    records,
    recordSizeBytes: 100,
    props: { 'linger.ms': '5', 'batch.size': '65536' },
  });
  log('baseline: Kafka ConsumerPerformance …');
  const consumer = await consumerPerformance({ bootstrap, topic: 'baseline', records });
  return { producer, consumer };
}

export interface FreshnessProbe {
  /** t: seconds since t0 when the probe's pings were accepted; ms: until visible in the API. */
  readonly freshness: { t: number; ms: number }[];
  readonly missed: () => number;
  stop(): void;
}

export async function startFreshnessProbe(options: {
  grpcPort: number;
  apiPort: number;
  partitions: number;
  t0: number;
  citySeed?: number;
}): Promise<FreshnessProbe> {
  const city = createCity(options.citySeed ?? 7);
  const busy = new Set<number>();
  for (const place of city.places) busy.add(javaPartition(regionOf(place.cell, 5), options.partitions));
  const partitionOf = (lat: number, lon: number) =>
    javaPartition(regionOf(cellOf(lat, lon, 10), 5), options.partitions);
  let probeLat = 0;
  const probeLon = 20;
  while (busy.has(partitionOf(probeLat, probeLon))) probeLat += 1;
  const devices = await Promise.all(
    Array.from({ length: 5 }, async () => {
      const client = new DeviceClient({ target: `127.0.0.1:${options.grpcPort}` });
      await client.enroll({ platform: 'dev' });
      return client;
    }),
  );
  const freshness: { t: number; ms: number }[] = [];
  let missed = 0;
  const controller = new AbortController();
  const { signal } = controller;
  void (async () => {
    let round = 0;
    while (!signal.aborted) {
      const roundStart = Date.now();
      round++;
      let lat = probeLat + round * 0.004; // ≥ 2 H3 rings apart at res 10: never the same stay
      while (busy.has(partitionOf(lat, probeLon))) lat += 0.5;
      const cell = cellOf(lat, probeLon, 10);
      const eventTimeMs = Date.now();
      try {
        await Promise.all(
          devices.map((d) => d.upload([{ eventTimeMs, latitude: lat, longitude: probeLon, accuracyM: 5 }])),
        );
      } catch {
        missed++;
        continue;
      }
      const acceptedAt = Date.now();
      void (async () => {
        const deadline = acceptedAt + 30_000;
        while (Date.now() < deadline && !signal.aborted) {
          try {
            const r = await fetch(
              `http://127.0.0.1:${options.apiPort}/v1/occupancy?cell=${cell}&at=${eventTimeMs}`,
            );
            const body = (await r.json()) as { devices: number | null };
            if ((body.devices ?? 0) >= 5) {
              freshness.push({ t: (acceptedAt - options.t0) / 1000, ms: Date.now() - acceptedAt });
              return;
            }
          } catch {}
          await sleep(25);
        }
        // Not visible within 30 s: counted at 30 s, so a stalled pipeline cannot improve the percentiles.
        if (!signal.aborted) freshness.push({ t: (acceptedAt - options.t0) / 1000, ms: 30_000 });
        missed++;
      })();
      await sleep(Math.max(0, 1000 - (Date.now() - roundStart)));
    }
    for (const d of devices) d.close();
  })();
  return { freshness, missed: () => missed, stop: () => controller.abort() };
}
