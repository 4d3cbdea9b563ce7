import type { City, StadiumEvent } from './city.ts';
import type { PhoneOptions } from './phone.ts';
import { runSimulation } from './run.ts';
import { localClock, type ScheduleOptions } from './schedule.ts';
import type { PingUploader } from './uploader.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const WEEK = 7 * 24 * HOUR;

/** Options of {@link backfillHistory}. */
export interface HistoryOptions {
  uploader: PingUploader;
  /** Simulated devices (default 600, like `npm start`). */
  devices?: number;
  /** Seed of the history; each hour is its own run, seeded `<seed>-h<hourStartMs>`. */
  seed: string | number;
  city: City;
  /** Weeks of history before `endMs` (default 4, the popular-times default). */
  weeks?: number;
  /** End of the history, ms since the epoch (rounded down to the hour; the live replay starts there). */
  endMs: number;
  /** Minutes simulated of every hour (default 3): its first or last minutes (see below). */
  sampleMinutes?: number;
  schedule?: Partial<ScheduleOptions>;
  concurrency?: number;
  signal?: AbortSignal;
  /** After every hour: hours done of `total`, pings accepted so far. */
  onProgress?: (p: { done: number; total: number; pingsAccepted: number }) => void;
}

/** What {@link backfillHistory} uploaded. */
export interface HistoryResult {
  fromMs: number;
  toMs: number;
  hours: number;
  pingsAccepted: number;
  pingsRejected: number;
  failedBatches: number;
}

/**
 * Phones in the history: one upload per device and sampled run (all of its pings, no retries, never
 * offline), fewer pings while still or moving. Each upload is at most 2 × `sampleMinutes` old when sent,
 * and the hours go up in order, so no ping is later than the processor's lateness (1 h).
 */
const HISTORY_PHONE: Partial<PhoneOptions> = {
  movingIntervalMs: [20_000, 40_000],
  stationaryIntervalMs: [60_000, 120_000],
  longGapProbability: 0,
  batchPings: [500, 500],
  offlineFraction: 0,
  retryProbability: 0,
};

/** A match at the stadium on Saturday and Sunday afternoons (15:00–16:45 local), none on weekdays. */
function weekendMatch(city: City, hourMs: number, localOffsetMs: number): StadiumEvent | null {
  const stadium = city.byKind.stadium[0];
  const c = localClock(hourMs, localOffsetMs);
  if (!stadium || !c.weekend) return null;
  const startMs = c.dayStartMs + 15 * HOUR;
  return { placeId: stadium.id, startMs, endMs: startMs + 105 * MIN };
}

/**
 * Uploads a sampled history of `weeks` weeks before `endMs` through `uploader` (the real pipeline):
 * `sampleMinutes` of every hour of the weekly routine (the last minutes of odd hours and the first of
 * even ones, in one run per two hours), from the devices away from home. Popular times take each hour's peak of minute counts, and a place's visitors stay for longer
 * than a few minutes, so a short sample of each hour gives the hour's shape at a fraction of the pings
 * (docs/simulator.md, "History"). Visits and dwell of the history are cut at the sample's end.
 */
export async function backfillHistory(o: HistoryOptions): Promise<HistoryResult> {
  const toMs = Math.floor(o.endMs / HOUR) * HOUR;
  const fromMs = toMs - (o.weeks ?? 4) * WEEK;
  const sampleMs = (o.sampleMinutes ?? 3) * MIN;
  const localOffsetMs = o.schedule?.localOffsetMs ?? 0;
  const total = (toMs - fromMs) / HOUR;
  const out: HistoryResult = { fromMs, toMs, hours: 0, pingsAccepted: 0, pingsRejected: 0, failedBatches: 0 };
  // One run per two hours: the last minutes of an odd hour and the first of the next, so one upload per
  // device serves two hours (uploads, not pings, are what a replay through ingest pays for).
  for (let boundary = fromMs + HOUR; boundary < toMs; boundary += 2 * HOUR) {
    o.signal?.throwIfAborted();
    const { stats } = await runSimulation({
      uploader: o.uploader,
      devices: o.devices ?? 600,
      seed: `${o.seed}-h${boundary}`,
      city: o.city,
      startMs: boundary - sampleMs,
      durationMs: 2 * sampleMs,
      event: weekendMatch(o.city, boundary, localOffsetMs),
      ...(o.schedule ? { schedule: o.schedule } : {}),
      phone: { ...HISTORY_PHONE, maxBatchAgeMs: 2 * sampleMs + MIN },
      awayFromHomeOnly: true,
      exactTruth: false,
      concurrency: o.concurrency ?? 64,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    out.hours += 2;
    out.pingsAccepted += stats.pingsAccepted;
    out.pingsRejected += stats.pingsRejected;
    out.failedBatches += stats.failedBatches;
    o.onProgress?.({ done: out.hours, total, pingsAccepted: out.pingsAccepted });
  }
  return out;
}
