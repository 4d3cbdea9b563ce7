// Named places benchmark (issue 17, docs/places.md). Two parts, ratios against baselines of the same run:
//
// 1. Per-ping cost of place aggregation: the processor's aggregation step (PartitionAggregator.add +
//    drainUpdates, the part place mapping touches) over the same pings with no places, 10k and 100k
//    registered places (1–20 cells each, spread over a 120k-cell city; the pings fall in its inner 20k
//    cells). Rounds interleave the variants; the median pings/s per variant is reported with its ratio to
//    "no places". Decode and Kafka I/O, which places do not change, are left out, so the loss measured
//    here is an upper bound of the loss of the whole processor.
// 2. p99 of each place endpoint at 200 connections (autocannon), as a ratio to the /healthz p99 of the
//    same round, on a database with BENCH_PLACES places and one day of place counts.
// Writes bench/results/places.json. Run: ./node_modules/.bin/node bench/places.ts
//   (BENCH_SECONDS, BENCH_ROUNDS, BENCH_PINGS, BENCH_PLACES, BENCH_API_NODE_ARGS, BENCH_PROCESSOR_PINGS; BENCH_PART=lookup|api|
//   processor to run one part)
// 3. The whole processor's catch-up rate with 10k and 100k places against none (bench/places-processor.ts),
//    the ratio the target is stated for.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { assertNodeVersion } from '@footfall/config';
import { openDatabase } from '@footfall/db';
import { PartitionAggregator, type PingEvent, PlaceIndex, PlaceTracker, regionOf } from '@footfall/domain';
import { freePort } from '@footfall/kafka';
import { createTemporaryDatabase, mulberry32 } from '@footfall/testing';
import autocannon from 'autocannon';
import { gridDisk, latLngToCell } from 'h3-js';
import { processorPlacesBench } from './places-processor.ts';
import { median } from './processor-support.ts';

assertNodeVersion();
const here = import.meta.dirname;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PART = process.env.BENCH_PART;
const results: Record<string, unknown> = {
  startedAt: new Date().toISOString(),
  loadAverageBefore: loadavg(),
};

const centre = latLngToCell(52.52, 13.405, 10);
const city = gridDisk(centre, 200); // ~120k cells
const inner = gridDisk(centre, 81); // ~20k cells

function makePlaces(n: number, random: () => number): PlaceIndex {
  const index = new PlaceIndex();
  for (let i = 0; i < n; i++) {
    const c = city[Math.floor(random() * city.length)] as string;
    const size = 1 + Math.floor(random() * 20);
    const cells = gridDisk(c, 2).slice(0, size);
    index.upsert({ id: `p${i}`, version: 1, cells, effectiveFromMs: 0, region: regionOf(c) });
  }
  return index;
}

function lookupBench() {
  const startedAt = new Date().toISOString();
  const loadBefore = loadavg();
  const random = mulberry32(7);
  const total = Number(process.env.BENCH_PINGS ?? 400_000);
  const devices = 20_000;
  const home = Array.from({ length: devices }, () => inner[Math.floor(random() * inner.length)] as string);
  const t0 = Date.UTC(2025, 0, 1);
  const pings: PingEvent[] = new Array(total);
  for (let i = 0; i < total; i++) {
    const d = i % devices;
    if (random() < 0.02) home[d] = inner[Math.floor(random() * inner.length)] as string;
    let t = t0 + Math.floor(i / devices) * 30_000 + Math.floor((d / devices) * 30_000);
    if (random() < 0.02) t -= Math.floor(random() * 120_000);
    pings[i] = { pingId: `p${i}`, deviceId: `d${d}`, eventTimeMs: t, cell: home[d] as string, accuracyM: 20 };
  }
  const variants: { name: string; index: PlaceIndex | undefined }[] = [
    { name: 'no places', index: undefined },
    { name: '10k places', index: makePlaces(10_000, random) },
    { name: '100k places', index: makePlaces(100_000, random) },
  ];
  // Each variant starts on a collected heap, so none pays for the garbage of the one before it (the
  // no places round ran right after the 100k one); its own garbage is still collected inside its time.
  const v8 = process.getBuiltinModule('node:v8');
  v8.setFlagsFromString('--expose-gc');
  const gc = process.getBuiltinModule('node:vm').runInNewContext('gc') as () => void;
  const rates = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  // CPU time of this process (all its threads, GC helpers included): less sensitive than wall time to
  // the other processes of a shared machine.
  const cpuRates = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  let placeUpdates = new Map<string, number>();
  for (let round = 0; round < ROUNDS + 1; round++) {
    for (const v of variants) {
      gc();
      const agg = new PartitionAggregator();
      if (v.index) agg.observePlaces(new PlaceTracker(v.index, agg));
      let updates = 0;
      const cpu = process.cpuUsage();
      const start = performance.now();
      for (let i = 0; i < total; i++) {
        agg.add(pings[i] as PingEvent);
        if (i % 5_000 === 4_999) updates += agg.drainUpdates().places?.length ?? 0;
      }
      updates += agg.drainUpdates().places?.length ?? 0;
      const s = (performance.now() - start) / 1000;
      const used = process.cpuUsage(cpu);
      const cpuS = (used.user + used.system) / 1e6;
      if (round > 0) {
        // round 0 warms up
        rates.get(v.name)?.push(total / s);
        cpuRates.get(v.name)?.push(total / cpuS);
      }
      placeUpdates = new Map([...placeUpdates, [v.name, updates]]);
      console.error(
        `round ${round} ${v.name}: ${Math.round(total / s)} pings/s, ${Math.round(total / cpuS)} pings/cpu-s, ${updates} place updates`,
      );
    }
  }
  const base = median(rates.get('no places') ?? []);
  const cpuBase = median(cpuRates.get('no places') ?? []);
  const baseRounds = rates.get('no places') ?? [];
  results.lookup = {
    startedAt,
    pings: total,
    devices,
    rounds: ROUNDS,
    note: 'aggregation step only (add + drain); median pings/s over rounds; ratio = variant / no places (wall time); cpuRatio the same with the process CPU time; heap collected before each variant',
    variants: variants.map((v) => {
      const rate = median(rates.get(v.name) ?? []);
      const cpuRate = median(cpuRates.get(v.name) ?? []);
      return {
        variant: v.name,
        places: v.index?.size ?? 0,
        pingsPerSec: Math.round(rate),
        ratio: Number((rate / base).toFixed(3)),
        roundRatios: (rates.get(v.name) ?? []).map((r, i) => Number((r / (baseRounds[i] ?? r)).toFixed(3))),
        pingsPerCpuSec: Math.round(cpuRate),
        cpuRatio: Number((cpuRate / cpuBase).toFixed(3)),
        placeUpdates: placeUpdates.get(v.name) ?? 0,
      };
    }),
    target: { variant: '10k places', minRatio: 0.9 },
    loadAverage: { before: loadBefore, after: loadavg() },
  };
}

async function apiBench() {
  const PLACES = Number(process.env.BENCH_PLACES ?? 10_000);
  const DAY = 86_400_000;
  const day0 = Math.floor(Date.now() / DAY) * DAY - DAY;
  const loadBefore = loadavg();
  const tmp = await createTemporaryDatabase(undefined, 'footfall_bench_places');
  const children: ChildProcess[] = [];
  try {
    const db = await openDatabase({ url: tmp.url, poolSize: 4 });
    const random = mulberry32(11);
    const index = makePlaces(PLACES, random);
    const ids = [...index.values()].map((p) => p.id);
    const defs = [...index.values()];
    for (let i = 0; i < defs.length; i += 2000) {
      const chunk = defs.slice(i, i + 2000);
      await db.query(
        `INSERT INTO places (id, name, category, geometry, cells, region, min_lon, min_lat, max_lon, max_lat, effective_from)
         SELECT t.id, 'place ' || t.id, 'bench', '{"type":"Polygon","coordinates":[]}'::jsonb, string_to_array(t.cells, ','),
                t.region, 13.3, 52.4, 13.5, 52.6, to_timestamp(0)
           FROM unnest($1::text[], $2::text[], $3::text[]) AS t(id, cells, region)`,
        [chunk.map((p) => p.id), chunk.map((p) => p.cells.join(',')), chunk.map((p) => p.region)],
      );
    }
    // One day of counts for 1000 places (every bucket), and visits in their cells for dwell.
    const busy = ids.slice(0, 1000);
    await db.query(
      `INSERT INTO place_occupancy (place_id, bucket_start, bucket_ms, devices, version)
       SELECT p, ts, 60000, 1 + floor(80 * random() ^ 3)::int, 1
         FROM unnest($1::text[]) p,
              generate_series($2::timestamptz, $2::timestamptz + interval '1 day' - interval '1 minute', interval '1 minute') ts`,
      [busy, new Date(day0).toISOString()],
    );
    const { PartitionManager } = await import('@footfall/sink');
    await new PartitionManager(db).ensure('visits', [day0 / DAY - 1, day0 / DAY, day0 / DAY + 1]);
    await db.query(
      `INSERT INTO visits (device_id, cell, start_at, end_at, region, pings, closed)
       SELECT 'u' || g, p.cells[1], $1::timestamptz + (g % 1400) * interval '1 minute',
              $1::timestamptz + (g % 1400 + 5 + g % 90) * interval '1 minute', p.region, 5, true
         FROM generate_series(1, 50000) g JOIN places p ON p.id = 'p' || (g % 1000)
       ON CONFLICT DO NOTHING`,
      [new Date(day0).toISOString()],
    );
    await db.query('VACUUM (ANALYZE) places');
    await db.query('VACUUM (ANALYZE) place_occupancy');
    await db.query('VACUUM (ANALYZE) visits');
    await db.close();

    const port = await freePort();
    // BENCH_API_NODE_ARGS: extra node flags for the API process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p".
    const nodeArgs = (process.env.BENCH_API_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const api = spawn(process.execPath, [...nodeArgs, join(here, '../apps/api/src/main.ts')], {
      env: {
        ...process.env,
        DATABASE_URL: tmp.url,
        API_PORT: String(port),
        API_HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        KAFKA_BOOTSTRAP: '127.0.0.1:1', // reads only: no place is written during the bench
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(api);
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
      } catch {}
      if (Date.now() > deadline) throw new Error('api did not come up');
      await new Promise((r) => setTimeout(r, 100));
    }
    const pick = () => busy[Math.floor(random() * busy.length)] as string;
    const at = () => day0 + Math.floor(random() * DAY);
    const date = new Date(day0).toISOString().slice(0, 10);
    const seriesPath = (id: string) => {
      const from = day0 + Math.floor(random() * (DAY - 3600_000));
      return `/v1/places/${id}/occupancy/series?from=${from}&to=${from + 3600_000}&step=300000`;
    };
    const minutes = Array.from({ length: DAY / 60_000 }, (_, i) => day0 + i * 60_000);
    const names = Array.from({ length: 999 }, (_, i) => `/v1/places?q=place%20p${i}&limit=20`);
    // `warm`: the warm-up, one request per unit an answer cache holds (each place with counts; each
    // bucket of the day for popular places; each name query), as a production cache is warm. The
    // measured requests still pick at random among all of them, as before.
    const endpoints: { name: string; path: () => string; warm: string[] }[] = [
      { name: 'baseline /healthz', path: () => '/healthz', warm: [] },
      {
        name: 'place occupancy',
        path: () => `/v1/places/${pick()}/occupancy?at=${at()}`,
        warm: busy.map((id) => `/v1/places/${id}/occupancy?at=${at()}`),
      },
      { name: 'place series 1h/5min', path: () => seriesPath(pick()), warm: busy.map(seriesPath) },
      {
        name: 'popular places (k=10)',
        path: () => `/v1/places/popular?at=${at()}&k=10`,
        warm: minutes.map((t) => `/v1/places/popular?at=${t}&k=10`),
      },
      {
        name: 'place dwell (1 day)',
        path: () => `/v1/places/${pick()}/dwell?date=${date}`,
        warm: busy.map((id) => `/v1/places/${id}/dwell?date=${date}`),
      },
      {
        name: 'place popular-times',
        path: () => `/v1/places/${pick()}/popular-times?at=${day0 + DAY}`,
        warm: busy.map((id) => `/v1/places/${id}/popular-times?at=${day0 + DAY}`),
      },
      {
        name: 'places list (name)',
        path: () => `/v1/places?q=place%20p${Math.floor(random() * 999)}&limit=20`,
        warm: names,
      },
    ];
    const warmUp = async (paths: string[]) => {
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < paths.length; i = next++) {
          const res = await fetch(`http://127.0.0.1:${port}${paths[i]}`);
          await res.arrayBuffer();
          if (!res.ok) throw new Error(`warm-up ${paths[i]}: ${res.status}`);
        }
      };
      await Promise.all(Array.from({ length: 16 }, worker));
    };
    const rounds = new Map<
      string,
      {
        p99: number;
        ratio: number;
        rps: number;
        non2xx: number;
        failed: number;
        warmMs: number;
        load1: number;
      }[]
    >(endpoints.map((e) => [e.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      let healthz = 1;
      for (const e of endpoints) {
        const fire = (duration: number) =>
          autocannon({
            url: `http://127.0.0.1:${port}`,
            connections: 200,
            duration,
            requests: [
              { method: 'GET', setupRequest: (req: Record<string, unknown>) => ({ ...req, path: e.path() }) },
            ],
          } as unknown as autocannon.Options);
        const warmStart = performance.now();
        await warmUp(e.warm);
        const warmMs = Math.round(performance.now() - warmStart);
        await fire(1);
        const r = await fire(SECONDS);
        const failed = r.errors + r.timeouts;
        if (e.name === 'baseline /healthz') healthz = Math.max(1, r.latency.p99);
        const row = {
          p99: r.latency.p99,
          ratio: Number((r.latency.p99 / healthz).toFixed(2)),
          rps: Math.round(r.requests.average),
          non2xx: r.non2xx,
          failed,
          warmMs,
          load1: loadavg()[0] ?? 0,
        };
        rounds.get(e.name)?.push(row);
        console.error(JSON.stringify({ round, endpoint: e.name, ...row }));
      }
    }
    results.http = {
      connections: 200,
      seconds: SECONDS,
      rounds: ROUNDS,
      places: PLACES,
      placesWithCounts: busy.length,
      note:
        'medians over rounds; p99VsHealthz = p99 / /healthz p99 of the same round. Before each endpoint is ' +
        'measured, a warm-up (as a production cache is warm) requests once each unit its answer caches ' +
        'hold: every place with counts (occupancy, series: at a random time of the day; dwell; popular ' +
        'times), every bucket of the day (popular places), every name query (list); then 1 s of the ' +
        'measured load unmeasured; the measured requests pick at random across all of them as before',
      endpoints: endpoints.map((e) => {
        const rs = rounds.get(e.name) ?? [];
        const p99VsHealthz = median(rs.map((r) => r.ratio));
        return {
          endpoint: e.name,
          reqPerSec: median(rs.map((r) => r.rps)),
          p99Ms: median(rs.map((r) => r.p99)),
          p99VsHealthz,
          non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
          failedRequests: rs.reduce((a, r) => a + r.failed, 0),
          warmUpMs: median(rs.map((r) => r.warmMs)),
          roundRatios: rs.map((r) => r.ratio),
          roundLoad1: rs.map((r) => r.load1),
          targetMet: e.name.startsWith('baseline') ? null : p99VsHealthz <= 1.5,
        };
      }),
      target: { p99VsHealthz: 1.5 },
      loadAverage: { before: loadBefore, after: loadavg() },
    };
  } finally {
    for (const c of children) {
      if (c.exitCode !== null) continue;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (c.exitCode === null) c.kill('SIGKILL');
    }
    await tmp.drop();
  }
}

const parts = ['lookup', 'api', 'processor'] as const;
const run = (part: (typeof parts)[number]) => PART === undefined || PART === part;
if (run('lookup')) lookupBench();
if (run('api')) await apiBench();
if (run('processor')) results.processor = await processorPlacesBench();
results.loadAverageAfter = loadavg();
await mkdir(join(here, 'results'), { recursive: true });
if (PART) {
  // One part run alone keeps the other parts' last results (each with its own load averages).
  const previous = await readFile(join(here, 'results/places.json'), 'utf8').then(JSON.parse, () => ({}));
  const keys = { lookup: 'lookup', api: 'http', processor: 'processor' } as const;
  for (const part of parts)
    if (!run(part) && previous[keys[part]]) results[keys[part]] = previous[keys[part]];
}
await writeFile(join(here, 'results/places.json'), `${JSON.stringify(results, null, 2)}\n`);
console.error(JSON.stringify(results, null, 2));
console.error('→ bench/results/places.json');
