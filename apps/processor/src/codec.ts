import { BinaryReader } from '@bufbuild/protobuf/wire';
import { AggregateRecord, PingRecord } from '@footfall/contracts';
import type {
  LiveOccupancyUpdate,
  LivePlaceOccupancyUpdate,
  OccupancyUpdate,
  PingEvent,
  PlaceOccupancyUpdate,
  VisitUpdate,
} from '@footfall/domain';

// One BinaryReader per underlying buffer (the Kafka client hands out values as views of one decompressed
// batch), positioned on each value, instead of a new reader (and DataView) per record.
let reader: BinaryReader | undefined;
let readerBuffer: ArrayBufferLike | undefined;

/** Decodes one `ingestion` value into what the aggregator needs (throws on malformed protobuf). */
export function decodePing(value: Uint8Array): PingEvent {
  if (reader === undefined || value.buffer !== readerBuffer) {
    readerBuffer = value.buffer;
    reader = new BinaryReader(new Uint8Array(readerBuffer));
  }
  const end = value.byteOffset + value.byteLength;
  reader.pos = value.byteOffset;
  const r = PingRecord.decode(reader, value.byteLength);
  // The shared reader's bounds are those of the whole buffer: a value whose last field overruns its end
  // reads into the next one instead of failing. Any such read leaves the position past the end, where a
  // reader of the value alone would have thrown: throw too (same bad-record outcome).
  if (reader.pos > end) throw new RangeError('PingRecord: premature end of value');
  return {
    pingId: r.pingId,
    deviceId: r.deviceId,
    eventTimeMs: r.eventTimeMs,
    cell: r.cell,
    accuracyM: r.accuracyM,
    receivedAtMs: r.receivedAtMs,
  };
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// The `aggregated` key format has one home, @footfall/contracts (the sink parses it back).
export {
  liveOccupancyKey,
  livePlaceOccupancyKey,
  occupancyKey,
  placeOccupancyKey,
  visitKey,
} from '@footfall/contracts';

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

/** Distinct devices of a named place in a bucket (docs/places.md). */
export function encodePlaceOccupancy(u: PlaceOccupancyUpdate, bucketMs: number): Buffer {
  return toBuffer(
    AggregateRecord.encode({
      region: u.region,
      placeOccupancy: {
        placeId: u.placeId,
        bucketStartMs: u.bucketStartMs,
        bucketMs,
        devices: u.devices,
        version: u.version,
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

/** A provisional live-edge value (docs/insights.md, "Live edge"), computed at `computedAtMs`. */
export function encodeLiveOccupancy(u: LiveOccupancyUpdate, bucketMs: number, computedAtMs: number): Buffer {
  return toBuffer(
    AggregateRecord.encode({
      region: u.region,
      liveOccupancy: {
        cell: u.cell,
        bucketStartMs: u.bucketStartMs,
        bucketMs,
        observed: u.observed,
        confirmed: u.confirmed,
        estimate: u.estimate,
        lower: u.lower,
        upper: u.upper,
        completeness: u.completeness,
        finalAtMs: u.finalAtMs,
        computedAtMs,
      },
    }).finish(),
  );
}

/** A place's provisional live-edge value (docs/places.md, "Live edge"), computed at `computedAtMs`. */
export function encodeLivePlaceOccupancy(
  u: LivePlaceOccupancyUpdate,
  bucketMs: number,
  computedAtMs: number,
): Buffer {
  return toBuffer(
    AggregateRecord.encode({
      region: u.region,
      livePlaceOccupancy: {
        placeId: u.placeId,
        bucketStartMs: u.bucketStartMs,
        bucketMs,
        observed: u.observed,
        confirmed: u.confirmed,
        estimate: u.estimate,
        lower: u.lower,
        upper: u.upper,
        completeness: u.completeness,
        finalAtMs: u.finalAtMs,
        computedAtMs,
        version: u.version,
      },
    }).finish(),
  );
}
