import { type City, type CityOptions, createCity, type StadiumEvent } from './city.ts';
import { MinHeap } from './heap.ts';
import { DEFAULT_PHONE_OPTIONS, type PhoneOptions, phoneUploads, type UploadBatch } from './phone.ts';
import { Rng } from './random.ts';
import {
  buildItinerary,
  DEFAULT_SCHEDULE_OPTIONS,
  drawProfile,
  type Profile,
  type ScheduleOptions,
  type Segment,
} from './schedule.ts';

/** Options of {@link planSimulation} / {@link simulate}. */
export interface SimulateOptions {
  /** Seed of every random choice (same seed and options → identical pings). Default 1. */
  seed?: string | number;
  /** Number of devices (default 100). */
  devices?: number;
  /** Length of the simulated window, ms (default 2 h). */
  durationMs?: number;
  /**
   * End of the window, ms since the epoch (default: now, rounded down to the second, so a replay's
   * event times are all in the past). Ignored when `startMs` is given.
   */
  endMs?: number;
  /** Start of the window (real-time mode: now). Default `endMs − durationMs`. */
  startMs?: number;
  /** A prebuilt city, or options to build one from the seed. */
  city?: City | CityOptions;
  /** Stadium event; default (`'auto'`): from 25% of the window for min(90 min, 60% of it). null: none. */
  event?: StadiumEvent | null | 'auto';
  schedule?: Partial<ScheduleOptions>;
  phone?: Partial<PhoneOptions>;
  /** Attach the true position of every ping to its batch (default false: costs memory). */
  withTruth?: boolean;
  /**
   * Leave out devices that stay at home for the whole window (no pings from them). For sampled history
   * (`backfillHistory`): homes are not public places, and most of a night's uploads would be theirs.
   */
  awayFromHomeOnly?: boolean;
}

/** One simulated device: profile and true itinerary. */
export interface SimDevice {
  readonly id: string;
  readonly index: number;
  readonly profile: Profile;
  readonly segments: readonly Segment[];
}

/** Everything fixed before generation starts; devices are built on demand (deterministically). */
export interface SimulationPlan {
  readonly seed: string;
  readonly city: City;
  readonly event: StadiumEvent | null;
  readonly fromMs: number;
  readonly toMs: number;
  readonly deviceCount: number;
  readonly schedule: ScheduleOptions;
  readonly phone: PhoneOptions;
  readonly withTruth: boolean;
  readonly awayFromHomeOnly: boolean;
  /** Device i (0-based); independent of the other devices and of the device count. */
  device(index: number): SimDevice;
}

/** Simulator id of device i (used as the install id at enrollment). */
export function simDeviceId(index: number): string {
  return `dev-${index.toString().padStart(6, '0')}`;
}

function isCity(c: City | CityOptions | undefined): c is City {
  return c !== undefined && 'places' in c;
}

/** Fixes the window, city and event of a run. */
export function planSimulation(options: SimulateOptions = {}): SimulationPlan {
  const seed = String(options.seed ?? 1);
  const durationMs = options.durationMs ?? 2 * 3_600_000;
  if (!(durationMs > 0)) throw new RangeError('durationMs must be > 0');
  const fromMs = options.startMs ?? (options.endMs ?? Math.floor(Date.now() / 1000) * 1000) - durationMs;
  const toMs = fromMs + durationMs;
  const city = isCity(options.city) ? options.city : createCity(seed, options.city);
  let event: StadiumEvent | null = null;
  if (options.event === undefined || options.event === 'auto') {
    const stadium = city.byKind.stadium[0];
    if (stadium) {
      const startMs = Math.round(fromMs + durationMs * 0.25);
      event = {
        placeId: stadium.id,
        startMs,
        endMs: Math.round(startMs + Math.min(90 * 60_000, durationMs * 0.6)),
      };
    }
  } else event = options.event;
  const schedule: ScheduleOptions = { ...DEFAULT_SCHEDULE_OPTIONS, ...options.schedule };
  const phone: PhoneOptions = { ...DEFAULT_PHONE_OPTIONS, ...options.phone };
  const deviceCount = options.devices ?? 100;
  return {
    seed,
    city,
    event,
    fromMs,
    toMs,
    deviceCount,
    schedule,
    phone,
    withTruth: options.withTruth ?? false,
    awayFromHomeOnly: options.awayFromHomeOnly ?? false,
    device(index: number): SimDevice {
      const rng = Rng.derive(seed, `device:${index}`);
      const profile = drawProfile(city, rng, schedule, event !== null);
      const segments = buildItinerary(city, profile, rng, schedule, fromMs, toMs, event);
      return { id: simDeviceId(index), index, profile, segments };
    },
  };
}

/** Whether every segment of `d` overlapping `[fromMs, toMs]` is a stay at its home. */
function homeThroughout(d: SimDevice, fromMs: number, toMs: number): boolean {
  for (const s of d.segments) {
    if (s.endMs < fromMs || s.startMs > toMs) continue;
    if (s.kind !== 'stay' || s.placeId !== d.profile.home.id) return false;
  }
  return true;
}

interface Cursor {
  iter: Iterator<UploadBatch>;
  next: UploadBatch;
}

const byUpload = (a: UploadBatch, b: UploadBatch): boolean =>
  a.uploadAtMs !== b.uploadAtMs
    ? a.uploadAtMs < b.uploadAtMs
    : a.deviceIndex !== b.deviceIndex
      ? a.deviceIndex < b.deviceIndex
      : a.seq !== b.seq
        ? a.seq < b.seq
        : !a.isRetry && b.isRetry;

/**
 * All uploads of the run in `uploadAtMs` order (ties: device, sequence), generated lazily: a k-way merge
 * of the devices' streams (each ordered by `readyAtMs`, and `uploadAtMs >= readyAtMs`). A batch is
 * released once no device can still produce an earlier upload, so memory holds about one pending batch per
 * device, never the whole run. `onDevice` sees each device once, before its first upload.
 */
export function* timeline(plan: SimulationPlan, onDevice?: (d: SimDevice) => void): Generator<UploadBatch> {
  const devices = new MinHeap<Cursor>((a, b) =>
    a.next.readyAtMs !== b.next.readyAtMs
      ? a.next.readyAtMs < b.next.readyAtMs
      : a.next.deviceIndex < b.next.deviceIndex,
  );
  const ready = new MinHeap<UploadBatch>(byUpload);
  for (let i = 0; i < plan.deviceCount; i++) {
    const d = plan.device(i);
    if (plan.awayFromHomeOnly && homeThroughout(d, plan.fromMs, plan.toMs)) continue;
    onDevice?.(d);
    const iter = phoneUploads({
      deviceId: d.id,
      deviceIndex: i,
      seed: plan.seed,
      segments: d.segments,
      fromMs: plan.fromMs,
      toMs: plan.toMs,
      rng: Rng.derive(plan.seed, `phone:${i}`),
      options: plan.phone,
      withTruth: plan.withTruth,
    });
    const first = iter.next();
    if (!first.done) devices.push({ iter, next: first.value });
  }
  for (;;) {
    const c = devices.peek();
    const horizon = c === undefined ? Number.POSITIVE_INFINITY : c.next.readyAtMs;
    let top = ready.peek();
    while (top !== undefined && top.uploadAtMs <= horizon) {
      yield ready.pop() as UploadBatch;
      top = ready.peek();
    }
    if (c === undefined) return;
    devices.pop();
    ready.push(c.next);
    const n = c.iter.next();
    if (!n.done) {
      c.next = n.value;
      devices.push(c);
    }
  }
}

/** Async form of {@link timeline}, with the plan built from `options`. */
export async function* simulate(
  options: SimulateOptions = {},
  onDevice?: (d: SimDevice) => void,
): AsyncGenerator<UploadBatch> {
  yield* timeline(planSimulation(options), onDevice);
}
