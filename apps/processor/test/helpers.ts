import { AggregateRecord, PingRecord } from '@footfall/contracts';
import { PartitionAggregator, type PingEvent, regionOf } from '@footfall/domain';
import { javaPartition } from '@footfall/kafka';
import { CENTRES, mulberry32, waitFor } from '@footfall/testing';
import { Consumer, FetchIsolationLevels, ListOffsetTimestamps, Producer } from '@platformatic/kafka';
import { latLngToCell } from 'h3-js';
import { occupancyKey, visitKey } from '../src/codec.ts';

/** A ping as produced to `ingestion`. */
export interface TestPing extends PingEvent {
  latitude: number;
  longitude: number;
}

export { CENTRES } from '@footfall/testing';

/**
 * Realistic-ish pings: each device lives near one city, moves among `cellsPerCity` spots, pings every
 * 30 s – 4 min of event time (sometimes a long gap), with a few out-of-order and duplicate uploads.
 */
export function generatePings(options: {
  devices: number;
  pingsPerDevice: number;
  startMs: number;
  seed?: number;
  cellsPerCity?: number;
}): TestPing[] {
  const random = mulberry32(options.seed ?? 1);
  const cellsPerCity = options.cellsPerCity ?? 20;
  const spots = CENTRES.map(([lat, lng]) =>
    Array.from({ length: cellsPerCity }, () => [
      lat + (random() - 0.5) * 0.05,
      lng + (random() - 0.5) * 0.05,
    ]),
  );
  const out: TestPing[] = [];
  for (let d = 0; d < options.devices; d++) {
    const city = spots[d % spots.length] as number[][];
    let spot = city[Math.floor(random() * city.length)] as number[];
    let t = options.startMs + Math.floor(random() * 600_000);
    for (let i = 0; i < options.pingsPerDevice; i++) {
      if (random() < 0.15) spot = city[Math.floor(random() * city.length)] as number[];
      const lat = (spot[0] as number) + (random() - 0.5) * 0.0008;
      const lng = (spot[1] as number) + (random() - 0.5) * 0.0008;
      out.push({
        pingId: `p${i}`,
        deviceId: `dev-${d}`,
        eventTimeMs: t,
        cell: latLngToCell(lat, lng, 10),
        accuracyM: random() < 0.03 ? 250 : 5 + Math.floor(random() * 40),
        latitude: lat,
        longitude: lng,
      });
      t += random() < 0.05 ? 15 * 60_000 : 30_000 + Math.floor(random() * 210_000);
    }
  }
  // Interleave devices roughly by event time, with some out-of-order arrivals and duplicates.
  out.sort((a, b) => a.eventTimeMs - b.eventTimeMs);
  for (let i = 0; i < out.length; i++) {
    if (random() < 0.05) {
      const j = Math.min(out.length - 1, i + 1 + Math.floor(random() * 40));
      [out[i], out[j]] = [out[j] as TestPing, out[i] as TestPing];
    }
  }
  const dups: TestPing[] = [];
  for (const p of out) if (random() < 0.01) dups.push(p);
  return out.concat(dups);
}

export function pingValue(p: TestPing, receivedAtMs = Date.now()): Buffer {
  const bytes = PingRecord.encode({
    pingId: p.pingId,
    deviceId: p.deviceId,
    eventTimeMs: p.eventTimeMs,
    receivedAtMs,
    latitude: p.latitude,
    longitude: p.longitude,
    accuracyM: p.accuracyM,
    cell: p.cell,
    activity: 0,
  }).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Produces pings keyed by region to partition javaPartition(region, n), like the ingest service. */
export async function producePings(
  bootstrap: string,
  topic: string,
  pings: readonly TestPing[],
  partitions: number,
  chunk = 5_000,
): Promise<void> {
  const producer = new Producer({
    clientId: 'test-pings',
    bootstrapBrokers: [bootstrap],
    compression: 'lz4',
  });
  try {
    for (let i = 0; i < pings.length; i += chunk) {
      await producer.send({
        messages: pings.slice(i, i + chunk).map((p) => {
          const region = regionOf(p.cell, 5);
          return {
            topic,
            key: Buffer.from(region),
            value: pingValue(p),
            partition: javaPartition(region, partitions),
          };
        }),
      });
    }
  } finally {
    await producer.close();
  }
}

/** Latest value per key: decoded record, or null for a tombstone (deleted). */
export type LatestView = Map<string, AggregateRecord | null>;

/** Reads a whole topic read_committed up to its last stable offset; latest value per key. */
export async function readLatest(bootstrap: string, topic: string): Promise<LatestView> {
  const consumer = new Consumer({
    clientId: 'test-reader',
    groupId: `reader-${Date.now()}`,
    bootstrapBrokers: [bootstrap],
  });
  try {
    const metadata = await consumer.metadata({ topics: [topic] });
    const t = metadata.topics.get(topic);
    if (!t) throw new Error(`no topic ${topic}`);
    const view: LatestView = new Map();
    for (let p = 0; p < t.partitionsCount; p++) {
      let position = 0n;
      while (true) {
        const response = await consumer.fetch({
          node: t.partitions[p]?.leader ?? 1,
          topics: [
            {
              topicId: t.id,
              partitions: [
                {
                  partition: p,
                  fetchOffset: position,
                  partitionMaxBytes: 4 << 20,
                  currentLeaderEpoch: -1,
                  lastFetchedEpoch: -1,
                },
              ],
            },
          ],
          maxWaitTime: 50,
          minBytes: 1,
          maxBytes: 8 << 20,
          isolationLevel: FetchIsolationLevels.READ_COMMITTED,
        });
        const part = response.responses[0]?.partitions[0];
        if (!part) break;
        for (const batch of part.records ?? []) {
          const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
          if ((batch.attributes & 0x20) === 0) {
            for (const r of batch.records) {
              const offset = batch.firstOffset + BigInt(r.offsetDelta);
              if (offset < position) continue;
              const key = r.key?.toString() ?? '';
              view.set(
                key,
                r.value === null || r.value.length === 0 ? null : AggregateRecord.decode(r.value),
              );
            }
          }
          if (last + 1n > position) position = last + 1n;
        }
        if (position >= part.lastStableOffset) break;
      }
    }
    return view;
  } finally {
    await consumer.close();
  }
}

/** Comparable form: drops tombstones and never-nonzero occupancy, stringifies values. */
export function normalize(view: LatestView): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of [...view].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (v === null) continue;
    if (v.occupancy && v.occupancy.devices === 0 && v.occupancy.pings === 0) continue;
    out.set(k, JSON.stringify(v));
  }
  return out;
}

/** What a no-crash, single-pass run produces: one aggregator per partition, records in partition order. */
export function expectedView(
  pings: readonly TestPing[],
  partitions: number,
  options: ConstructorParameters<typeof PartitionAggregator>[0] = {},
  bucketMs = 60_000,
): LatestView {
  const aggs = new Map<number, PartitionAggregator>();
  const view: LatestView = new Map();
  const apply = (agg: PartitionAggregator) => {
    const u = agg.drainUpdates();
    for (const o of u.occupancy) {
      view.set(occupancyKey(o), {
        region: o.region,
        occupancy: {
          cell: o.cell,
          bucketStartMs: o.bucketStartMs,
          bucketMs,
          devices: o.devices,
          pings: o.pings,
        },
      });
    }
    for (const v of u.visits) {
      view.set(
        visitKey(v),
        v.retracted
          ? null
          : {
              region: v.region,
              visit: {
                deviceId: v.deviceId,
                cell: v.cell,
                startMs: v.startMs,
                endMs: v.endMs,
                pings: v.pings,
                closed: v.closed,
              },
            },
      );
    }
  };
  for (const p of pings) {
    const partition = javaPartition(regionOf(p.cell, 5), partitions);
    let agg = aggs.get(partition);
    if (!agg) {
      agg = new PartitionAggregator({ bucketMs, ...options });
      aggs.set(partition, agg);
    }
    agg.add(p);
  }
  for (const agg of aggs.values()) apply(agg);
  return view;
}

/** Waits until the group's committed offsets reach the end of every partition of `topic`. */
export async function waitCaughtUp(
  bootstrap: string,
  topic: string,
  groupId: string,
  timeoutMs = 120_000,
): Promise<void> {
  const consumer = new Consumer({ clientId: 'test-lag', groupId, bootstrapBrokers: [bootstrap] });
  try {
    // Synchronised on offsets: the group's committed offsets reach the end of every partition.
    await waitFor(
      `group ${groupId} to catch up on ${topic}`,
      async () => {
        const ends =
          (await consumer.listOffsets({ topics: [topic], timestamp: ListOffsetTimestamps.LATEST })).get(
            topic,
          ) ?? [];
        const committed =
          (
            await consumer.listCommittedOffsets({ topics: [{ topic, partitions: ends.map((_, i) => i) }] })
          ).get(topic) ?? [];
        return ends.every((end, i) => end === 0n || committed[i] === end);
      },
      timeoutMs,
      200,
    );
  } finally {
    await consumer.close();
  }
}

/** Input partition of a ping, as the ingest service keys it (region at resolution 5). */
export function partitionOf(p: TestPing, partitions: number): number {
  return javaPartition(regionOf(p.cell, 5), partitions);
}

/** Latest offset (end) of every partition of `topic`. */
export async function endOffsets(bootstrap: string, topic: string): Promise<bigint[]> {
  const consumer = new Consumer({
    clientId: 'test-ends',
    groupId: 'test-ends',
    bootstrapBrokers: [bootstrap],
  });
  try {
    return (
      (await consumer.listOffsets({ topics: [topic], timestamp: ListOffsetTimestamps.LATEST })).get(topic) ??
      []
    );
  } finally {
    await consumer.close();
  }
}

/** The group's committed offset of every partition of `topic` (-1n: none). */
export async function committedOffsets(
  bootstrap: string,
  topic: string,
  groupId: string,
  partitions: number,
): Promise<bigint[]> {
  const consumer = new Consumer({ clientId: 'test-committed', groupId, bootstrapBrokers: [bootstrap] });
  try {
    const all = Array.from({ length: partitions }, (_, i) => i);
    const c = await consumer.listCommittedOffsets({ topics: [{ topic, partitions: all }] });
    return c.get(topic) ?? [];
  } finally {
    await consumer.close();
  }
}
