import { Activity, type Ping } from '@footfall/contracts';
import { offsetM } from './geo.ts';
import { hash32, type Rng } from './random.ts';
import { positionAt, type Segment } from './schedule.ts';

/** Phone behaviour parameters (see docs/simulator.md). Intervals in ms, distances in m. */
export interface PhoneOptions {
  /** Ping interval while moving, ms [min, max] (default 5–15 s). */
  movingIntervalMs: readonly [number, number];
  /** Ping interval while stationary, ms [min, max] (default 1–5 min). */
  stationaryIntervalMs: readonly [number, number];
  /** Probability that a stationary interval is instead a long OS suspension (default 0.02). */
  longGapProbability: number;
  /** Length of such a suspension, ms [min, max] (default 10–15 min: beyond PRESENCE_MAX_GAP_MS). */
  longGapMs: readonly [number, number];
  /** Reported accuracy of a normal fix, m [min, max] (default 5–30; each device has its own typical value). */
  accuracyM: readonly [number, number];
  /** Probability of a bad fix (default 0.02). */
  badFixProbability: number;
  /** Reported accuracy of a bad fix, m [min, max] (default 50–200). */
  badFixAccuracyM: readonly [number, number];
  /** Target pings per upload, [min, max] (default 5–50, drawn per batch). */
  batchPings: readonly [number, number];
  /** Upload when the oldest buffered ping is this old, ms (default 5 min). */
  maxBatchAgeMs: number;
  /** Max pings in one request; a longer buffer is split into several requests (default 500). */
  maxUploadPings: number;
  /** Network latency between "ready" and the upload, ms [min, max] (default 0.1–2 s). */
  uploadDelayMs: readonly [number, number];
  /** Fraction of devices that go offline once (default 0.15). */
  offlineFraction: number;
  /** Offline period, ms [min, max] (default 10–40 min); buffered pings are uploaded on reconnection. */
  offlineMs: readonly [number, number];
  /** Fraction of uploads sent twice with the same ping ids (lost response, default 0.05). */
  retryProbability: number;
  /** Delay of the retry after the first attempt, ms [min, max] (default 1–30 s). */
  retryDelayMs: readonly [number, number];
}

export const DEFAULT_PHONE_OPTIONS: PhoneOptions = Object.freeze({
  movingIntervalMs: [5_000, 15_000],
  stationaryIntervalMs: [60_000, 300_000],
  longGapProbability: 0.02,
  longGapMs: [600_000, 900_000],
  accuracyM: [5, 30],
  badFixProbability: 0.02,
  badFixAccuracyM: [50, 200],
  batchPings: [5, 50],
  maxBatchAgeMs: 300_000,
  maxUploadPings: 500,
  uploadDelayMs: [100, 2_000],
  offlineFraction: 0.15,
  offlineMs: [600_000, 2_400_000],
  retryProbability: 0.05,
  retryDelayMs: [1_000, 30_000],
} as PhoneOptions);

/** The true state behind one ping (the "ground truth" of a fix). */
export interface PingTruth {
  lat: number;
  lon: number;
  moving: boolean;
  /** Place where the device truly stands, or null while moving. */
  placeId: string | null;
  /** Offset of the reported fix from the true position, m. */
  errorM: number;
}

/** One upload request the simulated phone makes. */
export interface UploadBatch {
  /** Simulator device id (the install id; the ingest service assigns its own id at enrollment). */
  deviceId: string;
  deviceIndex: number;
  /** Per-device upload sequence number (a retry repeats its original's number). */
  seq: number;
  pings: Ping[];
  /** Truth of each ping (same index), when requested. */
  truth: PingTruth[] | undefined;
  /** When the batch was complete on the phone (ms, simulated time). */
  readyAtMs: number;
  /** When the upload is sent (ms, simulated time); >= readyAtMs and >= every ping's event time. */
  uploadAtMs: number;
  /** A repeated upload of an earlier batch (same ping ids). */
  isRetry: boolean;
  /** Contains pings buffered while offline. */
  late: boolean;
}

/** Per-axis sigma of a 2D gaussian whose 68% radius is the reported accuracy: r68 = sigma·sqrt(-2 ln 0.32). */
export const ACCURACY_TO_SIGMA = 1 / Math.sqrt(-2 * Math.log(0.32));

/** Float32 as it travels in the protobuf `float` fields, rounded to 0.1 so the value survives decoding. */
function f32(x: number): number {
  return Math.fround(Math.round(x * 10) / 10);
}

export interface PhoneContext {
  deviceId: string;
  deviceIndex: number;
  seed: string;
  segments: readonly Segment[];
  fromMs: number;
  toMs: number;
  rng: Rng;
  options: PhoneOptions;
  withTruth: boolean;
}

/**
 * Generates a device's uploads in order of `readyAtMs`: pings every 5–15 s while moving and every 1–5
 * min while still, GPS noise, bad fixes, batching by size/age, an optional offline period whose pings go
 * up in one late upload on reconnection, and retries that repeat a batch with the same ping ids.
 */
export function* phoneUploads(ctx: PhoneContext): Generator<UploadBatch> {
  const { rng, segments, fromMs, toMs, options: o } = ctx;
  const tag = hash32(`${ctx.seed}/${ctx.deviceIndex}`).toString(36).padStart(7, '0');
  const quality = rng.uniform(o.accuracyM[0], o.accuracyM[1]);
  let offFrom = Number.POSITIVE_INFINITY;
  let offTo = Number.NEGATIVE_INFINITY;
  if (rng.chance(o.offlineFraction)) {
    const dur = Math.min(rng.uniform(o.offlineMs[0], o.offlineMs[1]), (toMs - fromMs) / 2);
    offFrom = rng.uniform(fromMs, toMs - dur);
    offTo = offFrom + dur;
  }
  let seq = 0;
  let pingSeq = 0;
  let hint = 0;
  let buf: Ping[] = [];
  let bufTruth: PingTruth[] = [];
  let bufLate = false;
  let target = rng.int(o.batchPings[0], o.batchPings[1]);

  function* flush(readyAtMs: number): Generator<UploadBatch> {
    for (let i = 0; i < buf.length; i += o.maxUploadPings) {
      const pings = buf.slice(i, i + o.maxUploadPings);
      const truth = ctx.withTruth ? bufTruth.slice(i, i + o.maxUploadPings) : undefined;
      const uploadAtMs = Math.round(readyAtMs + rng.uniform(o.uploadDelayMs[0], o.uploadDelayMs[1]));
      const base = {
        deviceId: ctx.deviceId,
        deviceIndex: ctx.deviceIndex,
        seq: seq++,
        pings,
        truth,
        readyAtMs,
      };
      yield { ...base, uploadAtMs, isRetry: false, late: bufLate };
      if (rng.chance(o.retryProbability)) {
        const retryAt = Math.round(uploadAtMs + rng.uniform(o.retryDelayMs[0], o.retryDelayMs[1]));
        yield { ...base, uploadAtMs: retryAt, isRetry: true, late: bufLate };
      }
    }
    buf = [];
    bufTruth = [];
    bufLate = false;
    target = rng.int(o.batchPings[0], o.batchPings[1]);
  }

  let t = fromMs + rng.uniform(0, o.stationaryIntervalMs[0]);
  while (t <= toMs) {
    const eventTimeMs = Math.floor(t);
    const pos = positionAt(segments, eventTimeMs, hint);
    hint = pos.segment;
    const bad = rng.chance(o.badFixProbability);
    const acc = bad
      ? rng.uniform(o.badFixAccuracyM[0], o.badFixAccuracyM[1])
      : Math.min(o.accuracyM[1], Math.max(o.accuracyM[0], quality * Math.exp(0.25 * rng.normal())));
    const sigma = acc * ACCURACY_TO_SIGMA;
    const dx = rng.normal() * sigma;
    const dy = rng.normal() * sigma;
    const fix = offsetM(pos, dx, dy);
    const ping: Ping = {
      pingId: `${tag}-${(pingSeq++).toString(36).padStart(8, '0')}`,
      eventTimeMs,
      latitude: fix.lat,
      longitude: fix.lon,
      accuracyM: f32(acc),
      speedMps: f32(pos.moving ? Math.max(0, pos.speedMps + rng.normal() * 0.5) : 0),
      activity: pos.moving
        ? pos.speedMps > 3
          ? Activity.ACTIVITY_IN_VEHICLE
          : Activity.ACTIVITY_WALKING
        : Activity.ACTIVITY_STILL,
    };
    buf.push(ping);
    if (ctx.withTruth) {
      bufTruth.push({
        lat: pos.lat,
        lon: pos.lon,
        moving: pos.moving,
        placeId: pos.placeId,
        errorM: Math.hypot(dx, dy),
      });
    }
    const offline = eventTimeMs >= offFrom && eventTimeMs < offTo;
    if (offline) bufLate = true;
    else if (buf.length >= target || eventTimeMs - (buf[0] as Ping).eventTimeMs >= o.maxBatchAgeMs) {
      yield* flush(eventTimeMs);
    }
    let step: number;
    if (pos.moving) step = rng.uniform(o.movingIntervalMs[0], o.movingIntervalMs[1]);
    else if (rng.chance(o.longGapProbability)) step = rng.uniform(o.longGapMs[0], o.longGapMs[1]);
    else step = rng.uniform(o.stationaryIntervalMs[0], o.stationaryIntervalMs[1]);
    // A phone that starts moving wakes up (motion activity): never sleep past the next departure.
    const seg = segments[hint];
    if (
      !pos.moving &&
      seg !== undefined &&
      seg.endMs > t &&
      seg.endMs < t + step &&
      hint < segments.length - 1
    ) {
      step = Math.max(1_000, seg.endMs - t + rng.uniform(0, o.movingIntervalMs[1]));
    }
    t += step;
  }
  if (buf.length > 0) {
    // Reconnection after an offline period that lasted to the end of the buffer.
    const last = (buf[buf.length - 1] as Ping).eventTimeMs;
    yield* flush(bufLate ? Math.max(last, Math.floor(offTo)) : last);
  }
}
