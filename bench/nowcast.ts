// Nowcast benchmark (`BENCH_ONLY=nowcast npm run bench`): how good is the live edge at "now"?
// The simulator's pings (default phone behaviour: batches up to 5 min, offline phones) are fed in upload
// order to the domain's PartitionAggregator and LiveEdge, exactly as the processor does, with "now" =
// the simulated upload clock. At sampled instants, for lags 0, 1, 2, 5 min behind now, the provisional
// values are compared with the final truth (the same aggregator over every ping: the pipeline's exact
// expectation) over (cell, bucket)s whose final count is ≥ K. Writes bench/results/nowcast.json
// (bench/results/nowcast-seed<N>.json for another seed, the over-fitting check).
// Env: NOWCAST_BENCH_DEVICES (1500), NOWCAST_BENCH_HOURS (3), NOWCAST_BENCH_SEED (1),
// NOWCAST_BENCH_SETTLE_MIN (30, = NOWCAST_SETTLE_MS).
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { assertNodeVersion } from '@footfall/config';
import { cellOf, LiveEdge, type LiveOccupancyUpdate, PartitionAggregator, regionOf } from '@footfall/domain';
import { localOffsetFor, planSimulation, timeline } from '@footfall/simulator';

assertNodeVersion();
const devices = Number(process.env.NOWCAST_BENCH_DEVICES ?? 1500);
const hours = Number(process.env.NOWCAST_BENCH_HOURS ?? 3);
const seed = process.env.NOWCAST_BENCH_SEED ?? '1';
const K = 5;
const BUCKET_MS = 60_000;
const LAGS = [0, 1, 2, 5];
const SAMPLE_EVERY_MS = 20_000;
const WARMUP_MS = 60 * 60_000;

const load0 = loadavg()[0] ?? 0;
const started = Date.now();
const endMs = Math.floor(Date.now() / BUCKET_MS) * BUCKET_MS;
// The simulator's routines follow a local clock (docs/simulator.md), so an unpinned window would measure
// whatever time of day the bench runs at. Pinned: the window starts on a Wednesday at
// NOWCAST_BENCH_LOCAL_START_H local (default 14:00, so the measured part after the warm-up is the
// afternoon and the start of the evening commute).
const localStartH = Number(process.env.NOWCAST_BENCH_LOCAL_START_H ?? 14);
const durationMs = hours * 3_600_000;
const plan = planSimulation({
  seed,
  devices,
  durationMs,
  endMs,
  schedule: { localOffsetMs: localOffsetFor(endMs - durationMs, 2, localStartH) },
});
const agg = new PartitionAggregator();
const truthAgg = new PartitionAggregator();
const edge = new LiveEdge({
  bucketMs: BUCKET_MS,
  presenceMaxGapMs: 600_000,
  horizonMs: 15 * 60_000,
  settleMs: Number(process.env.NOWCAST_BENCH_SETTLE_MIN ?? 30) * 60_000,
  delayWindowMs: 30 * 60_000,
  learnMinCount: K,
});
/** The provisional table as the sink keeps it: latest update per (cell, bucket). */
const live = new Map<string, LiveOccupancyUpdate>();
interface Sample {
  lag: number;
  cell: string;
  b: number;
  u: LiveOccupancyUpdate | undefined;
}
const samples: Sample[] = [];
const evalFrom = plan.fromMs + WARMUP_MS;
const evalTo = plan.toMs - 10 * 60_000;
// The live edge runs from the start, as in the processor: the warm-up is where the model first learns.
let nextSample = plan.fromMs;
/** Cells publishable at lag 0 (observed and estimate ≥ K) per evaluated instant: the "now" map. */
const publishableAtNow: number[] = [];
let pings = 0;
const truth = new Map<string, number>();
const drainTruth = () => {
  for (const o of truthAgg.drainUpdates().occupancy) truth.set(`${o.cell}|${o.bucketStartMs}`, o.devices);
};
const regions = new Map<string, string>();

function advanceTo(nowMs: number): void {
  while (nextSample <= nowMs && nextSample <= evalTo) {
    const now = nextSample;
    nextSample += SAMPLE_EVERY_MS;
    for (const u of edge.snapshot(agg, now)) live.set(`${u.cell}|${u.bucketStartMs}`, u);
    for (const [key, u] of live) if (u.bucketStartMs < now - 20 * 60_000) live.delete(key);
    if (now < evalFrom) continue;
    const nowBucket = Math.floor(now / BUCKET_MS) * BUCKET_MS;
    let publishable = 0;
    for (const u of live.values()) {
      if (u.bucketStartMs === nowBucket && u.observed >= K && u.estimate >= K) publishable++;
    }
    publishableAtNow.push(publishable);
    for (const lag of LAGS) {
      const b = nowBucket - lag * BUCKET_MS;
      // Which cells to judge is decided later from the final truth; keep every live value of b.
      for (const [key, u] of live)
        if (u.bucketStartMs === b) samples.push({ lag, cell: key.split('|')[0] as string, b, u });
      samples.push({ lag, cell: '', b, u: undefined }); // marks "evaluated at this instant"
    }
  }
}

for (const batch of timeline(plan)) {
  advanceTo(batch.uploadAtMs);
  for (const p of batch.pings) {
    const cell = cellOf(p.latitude as number, p.longitude as number, 10);
    let region = regions.get(cell);
    if (region === undefined) {
      region = regionOf(cell, 5);
      regions.set(cell, region);
    }
    const ping = {
      pingId: p.pingId,
      deviceId: batch.deviceId,
      eventTimeMs: p.eventTimeMs,
      cell,
      accuracyM: p.accuracyM,
    };
    if (agg.add(ping) === 'accepted') edge.observeDelay(region, p.eventTimeMs, batch.uploadAtMs);
    truthAgg.add(ping);
    pings++;
  }
  agg.drainUpdates();
  if (pings % 20_000 < batch.pings.length) drainTruth();
}
drainTruth();

// Group samples by evaluation instant (lag, b, the instant's values) and judge cells with truth ≥ K.
interface Acc {
  n: number;
  truth: number;
  raw: number;
  carried: number;
  est: number;
  apeRaw: number;
  apeCarried: number;
  apeEst: number;
  covered: number;
  completeness: number;
}
const acc = new Map<number, Acc>(
  LAGS.map((l) => [
    l,
    {
      n: 0,
      truth: 0,
      raw: 0,
      carried: 0,
      est: 0,
      apeRaw: 0,
      apeCarried: 0,
      apeEst: 0,
      covered: 0,
      completeness: 0,
    },
  ]),
);
let group: Sample[] = [];
for (const s of samples) {
  if (s.u !== undefined) {
    group.push(s);
    continue;
  }
  const a = acc.get(s.lag) as Acc;
  const seen = new Map(group.map((g) => [g.cell, g.u as LiveOccupancyUpdate]));
  for (const [key, y] of truth) {
    if (y < K) continue;
    const [cell, bs] = key.split('|') as [string, string];
    if (Number(bs) !== s.b) continue;
    const u = seen.get(cell);
    const raw = u?.confirmed ?? 0;
    const carried = u?.observed ?? 0;
    const est = u?.estimate ?? 0;
    a.n++;
    a.truth += y;
    a.raw += raw;
    a.carried += carried;
    a.est += est;
    a.apeRaw += Math.abs(raw - y) / y;
    a.apeCarried += Math.abs(carried - y) / y;
    a.apeEst += Math.abs(est - y) / y;
    if (u !== undefined && u.lower <= y && y <= u.upper) a.covered++;
    a.completeness += u?.completeness ?? 0;
  }
  group = [];
}
const byLag = LAGS.map((lag) => {
  const a = acc.get(lag) as Acc;
  const n = Math.max(a.n, 1);
  return {
    lagMin: lag,
    cellBuckets: a.n,
    meanFinalTruth: +(a.truth / n).toFixed(2),
    meanRawObserved: +(a.raw / n).toFixed(2),
    meanCarriedToNow: +(a.carried / n).toFixed(2),
    meanNowcast: +(a.est / n).toFixed(2),
    mapeRawPct: +((100 * a.apeRaw) / n).toFixed(1),
    mapeCarriedPct: +((100 * a.apeCarried) / n).toFixed(1),
    mapeNowcastPct: +((100 * a.apeEst) / n).toFixed(1),
    intervalCoveragePct: +((100 * a.covered) / n).toFixed(1),
    meanCompleteness: +(a.completeness / n).toFixed(3),
  };
});
const lag0 = byLag[0] as (typeof byLag)[number];
const result = {
  at: new Date().toISOString(),
  loadAverage1m: +load0.toFixed(1),
  loadAverage1mEnd: +(loadavg()[0] ?? 0).toFixed(1),
  note: 'accuracy numbers are a deterministic function of the simulation (seed, size); load only changes seconds',
  seconds: Math.round((Date.now() - started) / 1000),
  simulation: {
    devices,
    hours,
    seed,
    pings,
    kAnonymity: K,
    sampleEveryS: SAMPLE_EVERY_MS / 1000,
    warmupMin: WARMUP_MS / 60_000,
    localStart: `Wednesday ${localStartH}:00`,
  },
  cellsPublishableAtNow: {
    mean: +(publishableAtNow.reduce((a, b) => a + b, 0) / Math.max(publishableAtNow.length, 1)).toFixed(1),
    min: Math.min(...publishableAtNow),
  },
  byLag,
  targets: {
    lag0MapeLe15: lag0.mapeNowcastPct <= 15,
    lag0CoverageGe80: lag0.intervalCoveragePct >= 80,
  },
};
const file = seed === '1' ? 'nowcast.json' : `nowcast-seed${seed}.json`;
writeFileSync(join(import.meta.dirname, 'results', file), `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
