// The upload hot path's protobuf codec: reads a signed PingBatch and writes PingRecords straight from
// the received bytes.
//
// Why not the generated (ts-proto) decode + encode: the profile of the ingest benchmark put the per-ping
// generic codec at the top (a BinaryWriter per record and its finish() copy, UTF-8 decoding and
// re-encoding of ids, int64 through strings), and the generated int64 reader THROWS for values beyond
// ±2^53, which turned one bad event_time into a whole-batch failure (issue 15). Here every ping is
// decoded into one reused object, the ping id is validated on its bytes and copied as bytes, and an
// out-of-range event time is a per-ping verdict. Wire semantics follow the protobuf spec (unknown
// fields skipped, last value wins, a field with an unexpected wire type is treated as unknown, as the
// generated decoder does); the unit tests check byte equality with PingRecord.encode.

import { IngestError } from './errors.ts';

const malformed = (what: string): IngestError =>
  new IngestError('INGEST_MALFORMED', `batch is not a valid PingBatch: ${what}`);

const TWO_32 = 4_294_967_296;
/** int64 values with |v| < 2^53, i.e. high word < 2^21, are exact as JS numbers. */
const SAFE_HIGH = 0x20_0000;

/** A tiny cursor over a Buffer; varints as protobuf defines them. */
class Cursor {
  buf: Buffer;
  pos: number;
  end: number;
  /** High 32 bits of the last varint64 read, unsigned (`lo` is the return value). */
  hi = 0;
  constructor(buf: Buffer, pos: number, end: number) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  /** Reads a varint of up to 10 bytes; returns its low 32 bits (unsigned), leaves the high ones in `hi`. */
  varint(): number {
    const { buf, end } = this;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    let b = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) throw malformed('truncated varint');
      b = buf[pos++] as number;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.hi = 0;
        return lo >>> 0;
      }
    }
    if (pos >= end) throw malformed('truncated varint');
    b = buf[pos++] as number;
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x70) >> 4;
    if (b >= 0x80) {
      for (let shift = 3; ; shift += 7) {
        if (shift > 31 + 7) throw malformed('varint longer than 10 bytes');
        if (pos >= end) throw malformed('truncated varint');
        b = buf[pos++] as number;
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
    }
    this.pos = pos;
    this.hi = hi >>> 0;
    return lo >>> 0;
  }

  /** A length prefix, checked against the remaining bytes; returns the end of the field. */
  lengthDelimited(): number {
    const len = this.varint();
    if (this.hi !== 0 || len > this.end - this.pos) throw malformed('length beyond the message');
    return this.pos + len;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.pos = this.lengthDelimited();
        return;
      case 5:
        this.pos += 4;
        break;
      default: // groups (3, 4) do not exist in proto3; 6 and 7 are not wire types
        throw malformed(`wire type ${wireType}`);
    }
    if (this.pos > this.end) throw malformed('truncated field');
  }
}

/**
 * A varint64 (lo, hi words) as a number, or NaN when |v| ≥ 2^53 (beyond what a JS number holds
 * exactly). int64 is two's complement: negative values have the top bit of `hi` set.
 */
function int64ToNumber(lo: number, hi: number): number {
  if (hi < SAFE_HIGH) return hi * TWO_32 + lo;
  if (hi >= 0x8000_0000) {
    // magnitude = 2^64 - v
    let mlo = (~lo >>> 0) + 1;
    let mhi = ~hi >>> 0;
    if (mlo === TWO_32) {
      mlo = 0;
      mhi += 1;
    }
    if (mhi < SAFE_HIGH) return -(mhi * TWO_32 + mlo);
    return Number.NEGATIVE_INFINITY;
  }
  return Number.POSITIVE_INFINITY;
}

/** The envelope of a PingBatch and where its pings lie in the bytes. */
export interface BatchHeader {
  deviceId: string;
  nonce: string;
  /** NaN-free: an out-of-range value becomes ±Infinity (fails the freshness check). */
  sentAtMs: number;
  /** [start, end) byte offsets of each encoded Ping, in batch order. */
  pingRanges: number[];
}

/** Reads PingBatch fields 1-3 and locates the pings (field 4) without decoding them. */
export function decodeBatchHeader(buf: Buffer): BatchHeader {
  const c = new Cursor(buf, 0, buf.length);
  const header: BatchHeader = { deviceId: '', nonce: '', sentAtMs: 0, pingRanges: [] };
  while (c.pos < c.end) {
    const tag = c.varint();
    if (c.hi !== 0) throw malformed('tag');
    switch (tag) {
      case 10: {
        const end = c.lengthDelimited();
        header.deviceId = buf.toString('utf8', c.pos, end);
        c.pos = end;
        break;
      }
      case 18: {
        const end = c.lengthDelimited();
        header.nonce = buf.toString('utf8', c.pos, end);
        c.pos = end;
        break;
      }
      case 24: {
        const lo = c.varint();
        header.sentAtMs = int64ToNumber(lo, c.hi);
        break;
      }
      case 34: {
        const end = c.lengthDelimited();
        header.pingRanges.push(c.pos, end);
        c.pos = end;
        break;
      }
      default:
        if (tag >>> 3 === 0) throw malformed('field number 0');
        c.skip(tag & 7);
    }
  }
  return header;
}

/** One decoded Ping. Reused for every ping of a batch: copy what must outlive the next decode. */
export interface PingFields {
  /** Byte range of ping_id in the batch (copied as is into the PingRecord). */
  idStart: number;
  idEnd: number;
  /** ms since epoch; ±Infinity when beyond ±2^53. */
  eventTimeMs: number;
  hasLatitude: boolean;
  latitude: number;
  hasLongitude: boolean;
  longitude: number;
  accuracyM: number;
  /** undefined when not set (proto3 `optional`). */
  speedMps: number | undefined;
  headingDeg: number | undefined;
  altitudeM: number | undefined;
  /** Activity enum as sent (int32), unchecked. */
  activity: number;
}

export function newPingFields(): PingFields {
  return {
    idStart: 0,
    idEnd: 0,
    eventTimeMs: 0,
    hasLatitude: false,
    latitude: 0,
    hasLongitude: false,
    longitude: 0,
    accuracyM: 0,
    speedMps: undefined,
    headingDeg: undefined,
    altitudeM: undefined,
    activity: 0,
  };
}

/** Decodes the Ping in buf[start, end) into `out` (every field reset first). */
export function decodePing(buf: Buffer, start: number, end: number, out: PingFields): void {
  out.idStart = start;
  out.idEnd = start;
  out.eventTimeMs = 0;
  out.hasLatitude = false;
  out.latitude = 0;
  out.hasLongitude = false;
  out.longitude = 0;
  out.accuracyM = 0;
  out.speedMps = undefined;
  out.headingDeg = undefined;
  out.altitudeM = undefined;
  out.activity = 0;
  const c = new Cursor(buf, start, end);
  while (c.pos < end) {
    const tag = c.varint();
    if (c.hi !== 0) throw malformed('tag');
    const pos = c.pos;
    switch (tag) {
      case 10: {
        const e = c.lengthDelimited();
        out.idStart = c.pos;
        out.idEnd = e;
        c.pos = e;
        continue;
      }
      case 16: {
        const lo = c.varint();
        out.eventTimeMs = int64ToNumber(lo, c.hi);
        continue;
      }
      case 25:
        if (pos + 8 > end) throw malformed('truncated double');
        out.hasLatitude = true;
        out.latitude = buf.readDoubleLE(pos);
        c.pos = pos + 8;
        continue;
      case 33:
        if (pos + 8 > end) throw malformed('truncated double');
        out.hasLongitude = true;
        out.longitude = buf.readDoubleLE(pos);
        c.pos = pos + 8;
        continue;
      case 45:
      case 53:
      case 61:
      case 69: {
        if (pos + 4 > end) throw malformed('truncated float');
        const v = buf.readFloatLE(pos);
        c.pos = pos + 4;
        if (tag === 45) out.accuracyM = v;
        else if (tag === 53) out.speedMps = v;
        else if (tag === 61) out.headingDeg = v;
        else out.altitudeM = v;
        continue;
      }
      case 72:
        out.activity = c.varint() | 0;
        continue;
      default:
        if (tag >>> 3 === 0) throw malformed('field number 0');
        c.skip(tag & 7);
    }
  }
}

/** Characters allowed in ping ids: [A-Za-z0-9_-]. */
const ID_BYTE = new Uint8Array(256);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-') {
  ID_BYTE[ch.charCodeAt(0)] = 1;
}

/** True when buf[start, end) is 16-64 characters of [A-Za-z0-9_-] (what PING_ID_PATTERN accepts). */
export function isValidIdBytes(buf: Buffer, start: number, end: number): boolean {
  const n = end - start;
  if (n < 16 || n > 64) return false;
  for (let i = start; i < end; i++) if (ID_BYTE[buf[i] as number] === 0) return false;
  return true;
}

/** Upper bound of one encoded PingRecord, bytes, given the device id and cell lengths. */
export function maxPingRecordBytes(deviceIdBytes: number, cellBytes: number): number {
  // tags 1 byte each; ping_id ≤ 64 (validated), varints ≤ 10, length prefixes ≤ 2
  return 2 + 64 + (2 + deviceIdBytes) + 11 + 11 + 9 + 9 + 5 + (2 + cellBytes) + 15 + 11;
}

function writeVarint(buf: Buffer, pos: number, lo: number, hi: number): number {
  while (hi !== 0 || lo > 0x7f) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  buf[pos++] = lo;
  return pos;
}

/** Writes a safe-integer int64 as a varint (two's complement for negatives, 10 bytes). */
function writeInt64(buf: Buffer, pos: number, v: number): number {
  if (v >= 0) return writeVarint(buf, pos, (v % TWO_32) >>> 0, Math.floor(v / TWO_32) >>> 0);
  const m = -v;
  let lo = m % TWO_32;
  let hi = Math.floor(m / TWO_32);
  // two's complement of (hi, lo)
  lo = (~lo >>> 0) + 1;
  hi = ~hi >>> 0;
  if (lo === TWO_32) {
    lo = 0;
    hi = (hi + 1) >>> 0;
  }
  return writeVarint(buf, pos, lo >>> 0, hi);
}

/**
 * Writes `footfall.pipeline.v1.PingRecord` for a validated ping into `out` at `pos`, field by field in
 * field-number order and omitting proto3 defaults, exactly as PingRecord.encode would (tested), but
 * with the ping id and coordinates taken from the request bytes. `deviceIdField` is the pre-encoded
 * field 2 (tag, length, bytes), the same for every ping of a batch. Returns the new position.
 */
export function writePingRecord(
  out: Buffer,
  pos: number,
  src: Buffer,
  p: PingFields,
  deviceIdField: Buffer,
  receivedAtMs: number,
  cell: string,
): number {
  const idLen = p.idEnd - p.idStart;
  if (idLen > 0) {
    out[pos++] = 10;
    out[pos++] = idLen; // ≤ 64: one varint byte
    pos += src.copy(out, pos, p.idStart, p.idEnd);
  }
  pos += deviceIdField.copy(out, pos);
  if (p.eventTimeMs !== 0) {
    out[pos++] = 24;
    pos = writeInt64(out, pos, p.eventTimeMs);
  }
  if (receivedAtMs !== 0) {
    out[pos++] = 32;
    pos = writeInt64(out, pos, receivedAtMs);
  }
  if (p.latitude !== 0) {
    out[pos++] = 41;
    pos = out.writeDoubleLE(p.latitude, pos);
  }
  if (p.longitude !== 0) {
    out[pos++] = 49;
    pos = out.writeDoubleLE(p.longitude, pos);
  }
  if (p.accuracyM !== 0) {
    out[pos++] = 61;
    pos = out.writeFloatLE(p.accuracyM, pos);
  }
  if (cell.length > 0) {
    out[pos++] = 66;
    out[pos++] = cell.length; // an H3 index in hex: 15 characters
    pos += out.write(cell, pos, 'latin1');
  }
  if (p.speedMps !== undefined) {
    out[pos++] = 77;
    pos = out.writeFloatLE(p.speedMps, pos);
  }
  if (p.headingDeg !== undefined) {
    out[pos++] = 85;
    pos = out.writeFloatLE(p.headingDeg, pos);
  }
  if (p.altitudeM !== undefined) {
    out[pos++] = 93;
    pos = out.writeFloatLE(p.altitudeM, pos);
  }
  if (p.activity !== 0) {
    out[pos++] = 96;
    pos = writeVarint(out, pos, p.activity >>> 0, 0);
  }
  return pos;
}

/** Pre-encodes PingRecord field 2 (device_id) for a batch. */
export function deviceIdField(deviceId: string): Buffer {
  const bytes = Buffer.from(deviceId, 'utf8');
  if (bytes.length === 0) return Buffer.alloc(0);
  const field = Buffer.allocUnsafe(bytes.length + 6);
  field[0] = 18;
  const pos = writeVarint(field, 1, bytes.length, 0);
  bytes.copy(field, pos);
  return field.subarray(0, pos + bytes.length);
}
