import { AggregateRecord, PingRecord } from '@footfall/contracts';
import type { OccupancyUpdate, PingEvent, VisitUpdate } from '@footfall/domain';

/** Decodes one `ingestion` value into what the aggregator needs (throws on malformed protobuf). */
export function decodePing(value: Uint8Array): PingEvent {
  const r = PingRecord.decode(value);
  return {
    pingId: r.pingId,
    deviceId: r.deviceId,
    eventTimeMs: r.eventTimeMs,
    cell: r.cell,
    accuracyM: r.accuracyM,
  };
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function occupancyKey(u: { cell: string; bucketStartMs: number }): string {
  return `occ:${u.cell}:${u.bucketStartMs}`;
}

export function visitKey(u: { deviceId: string; cell: string; startMs: number }): string {
  return `visit:${u.deviceId}:${u.cell}:${u.startMs}`;
}

export function encodeOccupancy(u: OccupancyUpdate, bucketMs: number): Buffer {
  return toBuffer(
    AggregateRecord.encode({
      region: u.region,
      occupancy: {
        cell: u.cell,
        bucketStartMs: u.bucketStartMs,
        bucketMs,
        devices: u.devices,
        pings: u.pings,
      },
    }).finish(),
  );
}

/** A retracted visit has no value: the caller produces a tombstone (null) on its key. */
export function encodeVisit(u: VisitUpdate): Buffer {
  return toBuffer(
    AggregateRecord.encode({
      region: u.region,
      visit: {
        deviceId: u.deviceId,
        cell: u.cell,
        startMs: u.startMs,
        endMs: u.endMs,
        pings: u.pings,
        closed: u.closed,
      },
    }).finish(),
  );
}
