// Diagnostic (not a benchmark): where does the lag-0 nowcast error come from? Same feed as bench/nowcast.ts;
// at each sampled instant, for every (cell, bucket) of now's bucket, the final truth's devices are
// classified by what the live edge knew of them at that instant (confirmed, carried here, confirmed or
// carried elsewhere = moved in unseen, silent = latest ping older than the gap), with the carry's false
// positives, the silent devices of the cell by age band and the cell's out-flow; the live edge's own
// estimate and interval are in the row too (docs/insights.md, "Where the error at now comes from").
// Writes one CSV row per (instant, cell) to DIAG_OUT (default /tmp/nowcast/diag.csv). Env: as
// bench/nowcast.ts (NOWCAST_BENCH_SEED, NOWCAST_BENCH_DEVICES, NOWCAST_BENCH_HOURS), and for ablations
// DIAG_SILENT_MS (the live edge's silentMs; 1 = no silent part) and DIAG_FLOW_MS (flowWindowMs).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { cellOf, LiveEdge, type LiveOccupancyUpdate, PartitionAggregator, regionOf } from '@footfall/domain';
import { planSimulation, timeline } from '@footfall/simulator';

const devices = Number(process.env.NOWCAST_BENCH_DEVICES ?? 1500);
const hours = Number(process.env.NOWCAST_BENCH_HOURS ?? 3);
const seed = process.env.NOWCAST_BENCH_SEED ?? '1';
const out = process.env.DIAG_OUT ?? '/tmp/nowcast/diag.csv';
const K = 5;
const BUCKET_MS = 60_000;
const GAP = 600_000;
const SAMPLE_EVERY_MS = 20_000;
const WARMUP_MS = 60 * 60_000;
const endMs = Math.floor(Date.now() / BUCKET_MS) * BUCKET_MS;
const plan = planSimulation({ seed, devices, durationMs: hours * 3_600_000, endMs });
const agg = new PartitionAggregator();
// Final device sets per (cell, bucket): the aggregator's presence transitions (never evicted here).
const sets = new Map<string, Set<number>>();
agg.observePlaces({
  presence(cell: string, b: number, num: number, present: boolean) {
    const k = `${cell}|${b}`;
    let s = sets.get(k);
    if (s === undefined) {
      s = new Set();
      sets.set(k, s);
    }
    if (present) s.add(num);
    else s.delete(num);
  },
  drain: () => [],
  evict: () => {},
} as never);
const edge = new LiveEdge({
  bucketMs: BUCKET_MS,
  presenceMaxGapMs: GAP,
  horizonMs: 15 * 60_000,
  settleMs: 30 * 60_000,
  delayWindowMs: 30 * 60_000,
  learnMinCount: K,
  ...(process.env.DIAG_SILENT_MS ? { silentMs: Number(process.env.DIAG_SILENT_MS) } : {}),
  ...(process.env.DIAG_FLOW_MS ? { flowWindowMs: Number(process.env.DIAG_FLOW_MS) } : {}),
});
const live = new Map<string, LiveOccupancyUpdate>();
interface Snap {
  now: number;
  nb: number;
  latest: Map<number, [string, number, number]>;
  conf: Map<number, string>;
  live: Map<string, LiveOccupancyUpdate>;
  past: Map<string, Set<number>>;
}
const snaps: Snap[] = [];
const settled30 = new Map<string, number>();
const evalFrom = plan.fromMs + WARMUP_MS;
const evalTo = plan.toMs - 10 * 60_000;
let nextSample = plan.fromMs;
const regions = new Map<string, string>();
function advanceTo(nowMs: number): void {
  while (nextSample <= nowMs && nextSample <= evalTo) {
    const now = nextSample;
    nextSample += SAMPLE_EVERY_MS;
    for (const u of edge.snapshot(agg, now)) live.set(`${u.cell}|${u.bucketStartMs}`, u);
    for (const [key, u] of live) if (u.bucketStartMs < now - 20 * 60_000) live.delete(key);
    const nb = Math.floor(now / BUCKET_MS) * BUCKET_MS;
    const sb = nb - 31 * BUCKET_MS;
    agg.forEachCellOf(sb, (cell, _r, n) => {
      if (!settled30.has(`${cell}|${sb}`)) settled30.set(`${cell}|${sb}`, n);
    });
    if (now < evalFrom) continue;
    const latest = new Map<number, [string, number, number]>();
    agg.forEachLatestPresence((cell, _r, t, start, num) => latest.set(num, [cell, t, start]));
    const conf = new Map<number, string>();
    agg.forEachCellOf(nb, (cell) => {
      for (const num of agg.presentIn(cell, nb)?.keys() ?? []) conf.set(num, cell);
    });
    const lv = new Map<string, LiveOccupancyUpdate>();
    for (const u of live.values()) if (u.bucketStartMs === nb) lv.set(u.cell, u);
    // Devices seen (confirmed) in each cell over the last 5 buckets, as known now.
    const past = new Map<string, Set<number>>();
    for (let b = nb - 5 * BUCKET_MS; b < nb; b += BUCKET_MS) {
      agg.forEachCellOf(b, (cell) => {
        let ps = past.get(cell);
        if (ps === undefined) {
          ps = new Set();
          past.set(cell, ps);
        }
        for (const num of agg.presentIn(cell, b)?.keys() ?? []) ps.add(num);
      });
    }
    snaps.push({ now, nb, latest, conf, live: lv, past });
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
  }
  agg.drainUpdates();
}
const BANDS = [12.5, 15, 20, 30, 60].map((m) => m * 60_000);
const cols = [
  'now',
  'phase',
  'cell',
  'y',
  'settled30',
  'confirmed',
  'observed',
  'est',
  'lower',
  'upper',
  'tConf',
  'tCarriedHere',
  'tConfElsewhere',
  'tCarriedElsewhere',
  'tStale',
  'tUnknown',
  'fpLong',
  'fpShort',
  'tpLong',
  'tpShort',
  'tCarriedElsewhereShort',
  'tStaleAge',
  'tStaleHere',
  ...BANDS.flatMap((_, i) => [`s${i}`, `s${i}True`, `s${i}Long`, `s${i}LongTrue`]),
  'passed5',
  'seen5',
];
const rows: string[] = [cols.join(',')];
for (const s of snaps) {
  // Carried devices per cell (not confirmed in nb, latest within gap, before nb's start … t < nb+bucket).
  const carried = new Map<string, number[]>();
  for (const [num, [cell, t]] of s.latest) {
    if (s.now - t > GAP || t > s.now) continue;
    if (Math.floor(t / BUCKET_MS) * BUCKET_MS >= s.nb) continue;
    let a = carried.get(cell);
    if (a === undefined) {
      a = [];
      carried.set(cell, a);
    }
    a.push(num);
  }
  for (const [key, set] of sets) {
    const [cell, bs] = key.split('|') as [string, string];
    if (Number(bs) !== s.nb || set.size < K) continue;
    const c = {
      tConf: 0,
      tCarriedHere: 0,
      tConfElsewhere: 0,
      tCarriedElsewhere: 0,
      tStale: 0,
      tUnknown: 0,
      tCarriedElsewhereShort: 0,
      tStaleAge: 0,
      tStaleHere: 0,
    };
    const bands = BANDS.map(() => [0, 0, 0, 0] as [number, number, number, number]);
    for (const [num, [lc, t, start]] of s.latest) {
      if (lc !== cell) continue;
      const age = s.now - t;
      if (age <= GAP) continue;
      const i = BANDS.findIndex((e) => age <= e);
      if (i < 0) continue;
      const bnd = bands[i] as [number, number, number, number];
      const long = t - start >= 300_000 ? 1 : 0;
      const tr = set.has(num) ? 1 : 0;
      bnd[0]++;
      bnd[1] += tr;
      bnd[2] += long;
      bnd[3] += long * tr;
    }
    for (const num of set) {
      const cc = s.conf.get(num);
      const l = s.latest.get(num);
      if (cc === cell) c.tConf++;
      else if (cc !== undefined) c.tConfElsewhere++;
      else if (l === undefined) c.tUnknown++;
      else if (s.now - l[1] > GAP) {
        c.tStale++;
        c.tStaleAge += s.now - l[1];
        if (l[0] === cell) c.tStaleHere++;
      } else if (l[0] === cell) c.tCarriedHere++;
      else {
        c.tCarriedElsewhere++;
        if (l[1] - l[2] < 300_000) c.tCarriedElsewhereShort++;
      }
    }
    let fpLong = 0;
    let fpShort = 0;
    let tpLong = 0;
    let tpShort = 0;
    for (const num of carried.get(cell) ?? []) {
      const l = s.latest.get(num) as [string, number, number];
      const long = l[1] - l[2] >= 300_000;
      if (set.has(num)) long ? tpLong++ : tpShort++;
      else long ? fpLong++ : fpShort++;
    }
    let passed = 0;
    for (const num of s.past.get(cell) ?? []) if (s.latest.get(num)?.[0] !== cell) passed++;
    const u = s.live.get(cell);
    rows.push(
      [
        s.now,
        Math.floor(((s.now - s.nb) * 3) / BUCKET_MS),
        cell,
        set.size,
        settled30.get(key) ?? -1,
        u?.confirmed ?? 0,
        u?.observed ?? 0,
        u?.estimate ?? 0,
        u?.lower ?? 0,
        u?.upper ?? 0,
        c.tConf,
        c.tCarriedHere,
        c.tConfElsewhere,
        c.tCarriedElsewhere,
        c.tStale,
        c.tUnknown,
        fpLong,
        fpShort,
        tpLong,
        tpShort,
        c.tCarriedElsewhereShort,
        c.tStaleAge,
        c.tStaleHere,
        ...bands.flat(),
        passed,
        s.past.get(cell)?.size ?? 0,
      ].join(','),
    );
  }
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${rows.join('\n')}\n`);
console.log(`${rows.length - 1} rows → ${out}`);
