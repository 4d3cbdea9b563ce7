// From an authenticated batch to Kafka records and the per-ping verdicts, in one pass over the bytes.

import { type RejectedPing, RejectReason, UploadResponse } from '@footfall/contracts';
import { latLngToCell } from 'h3-js';
import {
  decodePing,
  deviceIdField,
  maxPingRecordBytes,
  newPingFields,
  type PingFields,
  writePingRecord,
} from './ping-codec.ts';
import type { OutgoingRecord } from './producer.ts';
import type { RegionRouter } from './router.ts';
import { pingProblem, type ValidationLimits } from './validate.ts';

/**
 * At most this many refused pings are listed in an UploadResponse (the first ones, in batch order);
 * `rejected_count` has the total. Bounds the response whatever the batch holds.
 */
export const MAX_REJECTIONS_LISTED = 1_000;

/**
 * The largest UploadResponse the server can send: every count at its maximum and the longest list,
 * each entry with the widest index and reason. The gRPC send limit is derived from it (server.ts),
 * so an accepted upload can never fail on its own response (issue 15).
 */
export function maxUploadResponseBytes(maxBatchPings: number): number {
  const listed = Math.min(MAX_REJECTIONS_LISTED, maxBatchPings);
  const widestReason = Math.max(...Object.values(RejectReason).filter((v) => typeof v === 'number'));
  const rejected: RejectedPing[] = Array.from({ length: listed }, () => ({
    index: maxBatchPings - 1,
    pingId: '',
    reason: widestReason as RejectReason,
    message: '',
  }));
  return UploadResponse.encode({ accepted: maxBatchPings, rejected, rejectedCount: maxBatchPings }).finish()
    .length;
}

export interface PreparedBatch {
  /** One record per valid ping, in batch order. */
  records: OutgoingRecord[];
  /** The first MAX_REJECTIONS_LISTED refused pings. */
  rejected: RejectedPing[];
  rejectedCount: number;
  /** Refused pings per RejectReason value (index = enum value), for metrics. */
  rejectedByReason: number[];
}

export interface BatchContext {
  topic: string;
  cellResolution: number;
  limits: ValidationLimits;
  router: RegionRouter;
}

// One decode target for every ping: prepareBatch is synchronous, nothing else runs meanwhile.
const fields: PingFields = newPingFields();
const CELL_CHARS = 15; // an H3 index in hex

/**
 * Decodes and validates every ping in `ranges` (from decodeBatchHeader) and encodes each valid one as a
 * PingRecord, straight from the request bytes into one buffer per batch (each record value is a view of
 * it). A ping id repeated in the batch keeps its first occurrence. Throws INGEST_MALFORMED when a ping's
 * bytes are not valid protobuf (the bytes were signed, so that is the client's encoder's bug).
 */
export function prepareBatch(
  src: Buffer,
  ranges: readonly number[],
  deviceId: string,
  receivedAtMs: number,
  partitions: number,
  ctx: BatchContext,
): PreparedBatch {
  const n = ranges.length / 2;
  const idField = deviceIdField(deviceId);
  const out = Buffer.allocUnsafe(n * maxPingRecordBytes(idField.length, CELL_CHARS));
  const timestamp = BigInt(receivedAtMs);
  const records: OutgoingRecord[] = [];
  const rejected: RejectedPing[] = [];
  const rejectedByReason: number[] = [];
  let rejectedCount = 0;
  const seen = new Set<string>();
  let pos = 0;
  for (let index = 0; index < n; index++) {
    decodePing(src, ranges[2 * index] as number, ranges[2 * index + 1] as number, fields);
    let reason = pingProblem(src, fields, receivedAtMs, ctx.limits);
    if (reason === RejectReason.REJECT_REASON_UNSPECIFIED) {
      // Validated as [A-Za-z0-9_-]: latin1 is the id's exact text, and cheaper than UTF-8 decoding.
      const id = src.toString('latin1', fields.idStart, fields.idEnd);
      if (seen.has(id)) reason = RejectReason.REJECT_REASON_DUPLICATE_IN_BATCH;
      else seen.add(id);
    }
    if (reason !== RejectReason.REJECT_REASON_UNSPECIFIED) {
      if (rejectedCount < MAX_REJECTIONS_LISTED) rejected.push({ index, pingId: '', reason, message: '' });
      rejectedCount++;
      rejectedByReason[reason] = (rejectedByReason[reason] ?? 0) + 1;
      continue;
    }
    const cell = latLngToCell(fields.latitude, fields.longitude, ctx.cellResolution);
    const route = ctx.router.route(cell, partitions);
    const start = pos;
    pos = writePingRecord(out, pos, src, fields, idField, receivedAtMs, cell);
    records.push({
      topic: ctx.topic,
      key: route.key,
      partition: route.partition,
      timestamp,
      value: out.subarray(start, pos),
    });
  }
  return { records, rejected, rejectedCount, rejectedByReason };
}
