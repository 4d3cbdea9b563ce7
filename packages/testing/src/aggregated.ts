// Test fixtures for the sink, API and dashboard tests: `aggregated` records built the way the
// processor builds them, and a producer that partitions them by region as the processor does.
import { randomUUID } from 'node:crypto';
import { AggregateRecord, occupancyKey, placeOccupancyKey, visitKey } from '@footfall/contracts';
import { regionOf } from '@footfall/domain';
import { javaPartition } from '@footfall/kafka';
import { Producer } from '@platformatic/kafka';

export interface OccInput {
  cell: string;
  bucketStartMs: number;
  devices: number;
  pings?: number;
  bucketMs?: number;
}
export interface VisitInput {
  deviceId: string;
  cell: string;
  startMs: number;
  endMs: number;
  pings?: number;
  closed?: boolean;
}

export interface TestRecord {
  key: Buffer;
  value: Buffer | undefined;
  region: string;
}

export const occRecord = (o: OccInput): TestRecord => {
  const region = regionOf(o.cell);
  const value = AggregateRecord.encode({
    region,
    occupancy: {
      cell: o.cell,
      bucketStartMs: o.bucketStartMs,
      bucketMs: o.bucketMs ?? 60_000,
      devices: o.devices,
      pings: o.pings ?? o.devices,
    },
  }).finish();
  return { key: Buffer.from(occupancyKey(o)), value: Buffer.from(value), region };
};

export interface PlaceOccInput {
  placeId: string;
  /** The place's region (one region per place, docs/places.md). */
  region: string;
  bucketStartMs: number;
  /** Exact distinct devices in the place (not the sum of its cells' counts). */
  devices: number;
  bucketMs?: number;
  version?: number;
}

/** A place's PlaceOccupancy record (`place:<id>:<bucket>`), as the processor's codec builds it. */
export const placeOccRecord = (p: PlaceOccInput): TestRecord => {
  const value = AggregateRecord.encode({
    region: p.region,
    placeOccupancy: {
      placeId: p.placeId,
      bucketStartMs: p.bucketStartMs,
      bucketMs: p.bucketMs ?? 60_000,
      devices: p.devices,
      version: p.version ?? 1,
    },
  }).finish();
  return { key: Buffer.from(placeOccupancyKey(p)), value: Buffer.from(value), region: p.region };
};

export const visitRecord = (v: VisitInput): TestRecord => {
  const region = regionOf(v.cell);
  const value = AggregateRecord.encode({
    region,
    visit: {
      deviceId: v.deviceId,
      cell: v.cell,
      startMs: v.startMs,
      endMs: v.endMs,
      pings: v.pings ?? 3,
      closed: v.closed ?? false,
    },
  }).finish();
  return {
    key: Buffer.from(visitKey(v)),
    value: Buffer.from(value),
    region,
  };
};

export const tombstone = (v: Pick<VisitInput, 'deviceId' | 'cell' | 'startMs'>): TestRecord => ({
  key: Buffer.from(visitKey(v)),
  value: undefined,
  region: regionOf(v.cell),
});

/** Produces records to `topic`, partitioned by region as the processor does; optionally in one transaction. */
export async function produce(
  bootstrap: string,
  topic: string,
  records: readonly TestRecord[],
  options: { transactional?: boolean; partitions?: number } = {},
): Promise<void> {
  const partitions = options.partitions ?? 6;
  const transactional = options.transactional ?? false;
  const producer = new Producer({
    clientId: 'test-producer',
    bootstrapBrokers: [bootstrap],
    idempotent: true,
    ...(transactional ? { transactionalId: `test-${randomUUID()}` } : {}),
  });
  try {
    const messages = records.map((r) => ({
      topic,
      key: r.key,
      value: r.value as Buffer,
      partition: javaPartition(r.region, partitions),
    }));
    if (transactional) {
      const tx = await producer.beginTransaction();
      await tx.send({ messages });
      await tx.commit();
    } else {
      await producer.send({ messages });
    }
  } finally {
    await producer.close();
  }
}
