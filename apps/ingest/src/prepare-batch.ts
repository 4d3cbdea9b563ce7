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

/** FNV-1a over buf[start, end), folded to 30 bits (a small integer: cheap Set keys). */
function idHash(buf: Buffer, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (buf[i] as number), 0x01000193);
  return (h ^ (h >>> 30)) & 0x3fffffff;
}

/** True when buf[start, end) equals one of the [start, end) ranges in `ranges`. */
function occursIn(buf: Buffer, start: number, end: number, ranges: readonly number[]): boolean {
  for (let r = 0; r < ranges.length; r += 2) {
    const s = ranges[r] as number;
    const e = ranges[r + 1] as number;
    if (e - s === end - start && buf.compare(buf, start, end, s, e) === 0) return true;
  }
  return false;
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
  const seen = new Set<number>();
  const acceptedIds: number[] = [];
  let pos = 0;
  for (let index = 0; index < n; index++) {
    decodePing(src, ranges[2 * index] as number, ranges[2 * index + 1] as number, fields);
    let reason = pingProblem(src, fields, receivedAtMs, ctx.limits);
    if (reason === RejectReason.REJECT_REASON_UNSPECIFIED) {
      // Duplicate ids, without a string per ping: a hash of the id's bytes, and a byte comparison with
      // the earlier ids only when the hash was seen before (a real duplicate, or a rare collision).
      const hash = idHash(src, fields.idStart, fields.idEnd);
      if (seen.has(hash) && occursIn(src, fields.idStart, fields.idEnd, acceptedIds)) {
        reason = RejectReason.REJECT_REASON_DUPLICATE_IN_BATCH;
      } else {
        seen.add(hash);
        acceptedIds.push(fields.idStart, fields.idEnd);
      }
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
