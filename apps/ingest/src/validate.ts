// Pure validation of one decoded ping: the per-ping verdicts of docs/ingest.md#validation. A bad ping is
// refused on its own with its reason; the rest of the batch goes on.

import { RejectReason } from '@footfall/contracts';
import { isValidIdBytes, type PingFields } from './ping-codec.ts';

export interface ValidationLimits {
  maxBatchPings: number;
  /** Event times up to this far in the future (device clock skew) are accepted, ms. */
  maxClockSkewMs: number;
  /** Event times older than this are refused, ms. */
  maxPingAgeMs: number;
}

/** Client ping ids: a UUID or 16-64 url-safe characters (checked on the bytes by isValidIdBytes). */
export const PING_ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
/** Horizontal accuracy above this (metres) carries no location information worth keeping. */
export const MAX_ACCURACY_M = 10_000;
const MAX_SPEED_MPS = 350; // a little above an airliner's cruise speed
const MIN_ALTITUDE_M = -1_000;
const MAX_ALTITUDE_M = 20_000;
const MAX_ACTIVITY = 5;

/** Metric label of a reject reason, e.g. `latitude_out_of_range`. */
export function rejectReasonName(reason: RejectReason): string {
  for (const [name, value] of Object.entries(RejectReason)) {
    if (value === reason) return name.replace(/^REJECT_REASON_/, '').toLowerCase();
  }
  return 'unknown';
}

/**
 * The first problem of a decoded ping (`src` holds its bytes), or REJECT_REASON_UNSPECIFIED (0) when it
 * is valid. Allocation-free: it runs for every ping.
 */
export function pingProblem(
  src: Buffer,
  p: PingFields,
  nowMs: number,
  limits: ValidationLimits,
): RejectReason {
  if (!isValidIdBytes(src, p.idStart, p.idEnd)) return RejectReason.REJECT_REASON_BAD_ID;
  if (!p.hasLatitude || !p.hasLongitude) return RejectReason.REJECT_REASON_MISSING_COORDINATES;
  const { latitude: lat, longitude: lon, accuracyM: acc, eventTimeMs: t } = p;
  if (!(lat >= -90 && lat <= 90)) return RejectReason.REJECT_REASON_LATITUDE_OUT_OF_RANGE;
  if (!(lon >= -180 && lon <= 180)) return RejectReason.REJECT_REASON_LONGITUDE_OUT_OF_RANGE;
  if (!(acc > 0 && acc <= MAX_ACCURACY_M)) return RejectReason.REJECT_REASON_BAD_ACCURACY;
  // ±Infinity stands for an event time beyond ±2^53 ms (see ping-codec.ts).
  if (t > nowMs + limits.maxClockSkewMs) return RejectReason.REJECT_REASON_IN_FUTURE;
  if (t < nowMs - limits.maxPingAgeMs) return RejectReason.REJECT_REASON_TOO_OLD;
  const { speedMps: s, headingDeg: h, altitudeM: a } = p;
  if (s !== undefined && !(s >= 0 && s <= MAX_SPEED_MPS))
    return RejectReason.REJECT_REASON_BAD_OPTIONAL_FIELD;
  if (h !== undefined && !(h >= 0 && h <= 360)) return RejectReason.REJECT_REASON_BAD_OPTIONAL_FIELD;
  if (a !== undefined && !(a >= MIN_ALTITUDE_M && a <= MAX_ALTITUDE_M)) {
    return RejectReason.REJECT_REASON_BAD_OPTIONAL_FIELD;
  }
  if (p.activity < 0 || p.activity > MAX_ACTIVITY) return RejectReason.REJECT_REASON_BAD_OPTIONAL_FIELD;
  return RejectReason.REJECT_REASON_UNSPECIFIED;
}
