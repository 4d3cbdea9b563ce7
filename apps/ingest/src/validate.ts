// Pure validation of an authenticated batch: request-level problems throw (INVALID_ARGUMENT), per-ping
// problems are listed and the rest of the batch is accepted.

import type { Ping, PingBatch, RejectedPing } from '@footfall/contracts';
import { RejectReason } from '@footfall/contracts';
import { IngestError } from './errors.ts';

export interface ValidationLimits {
  maxBatchPings: number;
  /** Event times up to this far in the future (device clock skew) are accepted, ms. */
  maxClockSkewMs: number;
  /** Event times older than this are refused, ms. */
  maxPingAgeMs: number;
}

/** Client ping ids: a UUID or 16-64 url-safe characters. */
export const PING_ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
/** Horizontal accuracy above this (metres) carries no location information worth keeping. */
export const MAX_ACCURACY_M = 10_000;
const MAX_SPEED_MPS = 350; // a little above an airliner's cruise speed
const MIN_ALTITUDE_M = -1_000;
const MAX_ALTITUDE_M = 20_000;
const MAX_ACTIVITY = 5;

export interface ValidPing {
  /** Index in the request, for diagnostics. */
  index: number;
  ping: Ping;
}

export interface ValidationResult {
  accepted: ValidPing[];
  rejected: RejectedPing[];
}

/** Counts per reject reason name, e.g. `{ LATITUDE_OUT_OF_RANGE: 2 }` (metrics). */
export function rejectReasonName(reason: RejectReason): string {
  for (const [name, value] of Object.entries(RejectReason)) {
    if (value === reason) return name.replace(/^REJECT_REASON_/, '').toLowerCase();
  }
  return 'unknown';
}

function problem(ping: Ping, nowMs: number, limits: ValidationLimits): [RejectReason, string] | undefined {
  if (!PING_ID_PATTERN.test(ping.pingId))
    return [RejectReason.REJECT_REASON_BAD_ID, 'ping_id must be 16-64 url-safe characters'];
  const { latitude: lat, longitude: lon, accuracyM: acc, eventTimeMs: t } = ping;
  if (!Number.isFinite(lat) || lat < -90 || lat > 90) {
    return [RejectReason.REJECT_REASON_LATITUDE_OUT_OF_RANGE, 'latitude must be finite, within [-90, 90]'];
  }
  if (!Number.isFinite(lon) || lon < -180 || lon > 180) {
    return [
      RejectReason.REJECT_REASON_LONGITUDE_OUT_OF_RANGE,
      'longitude must be finite, within [-180, 180]',
    ];
  }
  if (!Number.isFinite(acc) || acc <= 0 || acc > MAX_ACCURACY_M) {
    return [RejectReason.REJECT_REASON_BAD_ACCURACY, `accuracy_m must be in (0, ${MAX_ACCURACY_M}]`];
  }
  if (!Number.isSafeInteger(t) || t > nowMs + limits.maxClockSkewMs) {
    return [
      RejectReason.REJECT_REASON_IN_FUTURE,
      `event_time_ms is more than ${limits.maxClockSkewMs} ms in the future`,
    ];
  }
  if (t < nowMs - limits.maxPingAgeMs) {
    return [RejectReason.REJECT_REASON_TOO_OLD, `event_time_ms is older than ${limits.maxPingAgeMs} ms`];
  }
  const { speedMps: s, headingDeg: h, altitudeM: a } = ping;
  if (s !== undefined && !(Number.isFinite(s) && s >= 0 && s <= MAX_SPEED_MPS)) {
    return [RejectReason.REJECT_REASON_BAD_OPTIONAL_FIELD, `speed_mps must be in [0, ${MAX_SPEED_MPS}]`];
  }
  if (h !== undefined && !(Number.isFinite(h) && h >= 0 && h <= 360)) {
    return [RejectReason.REJECT_REASON_BAD_OPTIONAL_FIELD, 'heading_deg must be in [0, 360]'];
  }
  if (a !== undefined && !(Number.isFinite(a) && a >= MIN_ALTITUDE_M && a <= MAX_ALTITUDE_M)) {
    return [
      RejectReason.REJECT_REASON_BAD_OPTIONAL_FIELD,
      `altitude_m must be in [${MIN_ALTITUDE_M}, ${MAX_ALTITUDE_M}]`,
    ];
  }
  if (!Number.isInteger(ping.activity) || ping.activity < 0 || ping.activity > MAX_ACTIVITY) {
    return [RejectReason.REJECT_REASON_BAD_OPTIONAL_FIELD, 'activity is not a known Activity'];
  }
  return undefined;
}

/**
 * Splits `batch.pings` into accepted and rejected. Throws INGEST_EMPTY_BATCH / INGEST_TOO_MANY_PINGS for
 * request-level problems. A ping id repeated within the batch keeps its first occurrence.
 */
export function validateBatch(batch: PingBatch, nowMs: number, limits: ValidationLimits): ValidationResult {
  const n = batch.pings.length;
  if (n === 0) throw new IngestError('INGEST_EMPTY_BATCH', 'the batch has no pings');
  if (n > limits.maxBatchPings) {
    throw new IngestError(
      'INGEST_TOO_MANY_PINGS',
      `${n} pings in one batch, at most ${limits.maxBatchPings} allowed`,
    );
  }
  const accepted: ValidPing[] = [];
  const rejected: RejectedPing[] = [];
  const seen = new Set<string>();
  for (let index = 0; index < n; index++) {
    const ping = batch.pings[index] as Ping;
    let bad = problem(ping, nowMs, limits);
    if (!bad && seen.has(ping.pingId))
      bad = [RejectReason.REJECT_REASON_DUPLICATE_IN_BATCH, 'ping_id repeated in this batch'];
    if (bad) {
      rejected.push({ index, pingId: ping.pingId.slice(0, 64), reason: bad[0], message: bad[1] });
      continue;
    }
    seen.add(ping.pingId);
    accepted.push({ index, ping });
  }
  return { accepted, rejected };
}
