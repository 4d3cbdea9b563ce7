// Differential-privacy benchmark (BENCH_ONLY=dp): what the dp gate costs against the k-anonymity gate,
// both in this run on the same data, as ratios. On the real PostgreSQL (127.0.0.1:5432), in-process:
//   • sampling: releaseCounts (CSPRNG discrete Laplace + threshold) vs kAnonymize over the same cells;
//   • first question about a bucket: dp (release: read, noise, store, charge the ledger) vs k-anonymity
//     (top-K query on raw counts);
//   • repeated question: dp (answered from the stored release) vs k-anonymity.
// Run: ./node_modules/.bin/node bench/dp.ts   (BENCH_DP_CELLS cells per bucket, BENCH_DP_BUCKETS buckets)

import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { dpGate, kAnonymityGate, loadApiConfig } from '@footfall/api';
import { assertNodeVersion } from '@footfall/config';
import { openDatabase } from '@footfall/db';
import {
  cellOf,
  cryptoRandomSource,
  dpMechanism,
  kAnonymize,
  regionOf,
  releaseCounts,
} from '@footfall/domain';
import { CENTRES, createTemporaryDatabase, mulberry32 } from '@footfall/testing';
import { cellToLatLng } from 'h3-js';

assertNodeVersion();
const CELLS = Number(process.env.BENCH_DP_CELLS ?? 2_000);
const BUCKETS = Number(process.env.BENCH_DP_BUCKETS ?? 60);
const MIN = 60_000;
const DAY = 86_400_000;
const load = { start: loadavg() };

const random = mulberry32(7);
const cells = new Set<string>();
while (cells.size < CELLS) {
  const [lat, lon] = CENTRES[cells.size % CENTRES.length] as [number, number];
  cells.add(cellOf(lat + (random() - 0.5) * 0.2, lon + (random() - 0.5) * 0.2));
}
// Heavy-tailed counts: most cells small, a few busy.
const counts = [...cells].map((cell) => ({ cell, devices: 1 + Math.floor(1 / (random() + 0.002)) }));

const time = async (n: number, fn: (i: number) => unknown): Promise<number> => {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return (performance.now() - t0) / n;
};

// 1. Sampling, in memory.
const mechanism = dpMechanism({ epsilon: 1, delta: 1e-6, maxCellsPerBucket: 1 });
const csprng = cryptoRandomSource();
const reps = 50;
let sink = 0;
const kanonMs = await time(reps, () => {
  for (const c of counts) if (kAnonymize(c.devices, 5) !== null) sink++;
});
const sampleMs = await time(reps, () => {
  sink += releaseCounts(counts, mechanism, csprng).length;
});

// 2. and 3. Through the gates on PostgreSQL.
const tmp = await createTemporaryDatabase();
const db = await openDatabase({ url: tmp.url });
const today = Math.floor(Date.now() / DAY) * DAY;
const first = today - DAY;
try {
  await db.query(
    `CREATE TABLE occupancy_pbench PARTITION OF occupancy FOR VALUES FROM ('${new Date(first).toISOString()}') TO ('${new Date(today).toISOString()}')`,
  );
  const where = counts.map((c) => ({ ...c, region: regionOf(c.cell), ll: cellToLatLng(c.cell) }));
  for (let i = 0; i < BUCKETS; i++) {
    await db.query(
      `INSERT INTO occupancy (cell, bucket_start, bucket_ms, region, lat, lon, devices, pings)
       SELECT c, timestamptz 'epoch' + $1::bigint * interval '1 millisecond', 60000, r, la, lo, d, d
         FROM unnest($2::text[], $3::text[], $4::real[], $5::real[], $6::int[]) AS t(c, r, la, lo, d)`,
      [
        first + i * MIN,
        where.map((c) => c.cell),
        where.map((c) => c.region),
        where.map((c) => c.ll[0]),
        where.map((c) => c.ll[1]),
        where.map((c) => c.devices),
      ],
    );
  }
  await db.query('ANALYZE occupancy');
  const config = loadApiConfig(
    {},
    { privacyMode: 'dp', dpEpsilonPerDay: 1_000_000, dpDeltaPerDay: 1, logLevel: 'silent' },
  );
  const kanon = kAnonymityGate(config, db);
  const dp = dpGate(config, db);
  const q = (i: number) => ({
    bucketStartMs: first + i * MIN,
    k: 10,
    cellResolution: config.cellResolution,
    resolution: config.cellResolution,
  });
  // Warm both paths (prepared statements, caches) on a bucket not measured.
  await kanon.topK('bench', q(BUCKETS - 1));
  await dp.topK('bench', q(BUCKETS - 1));
  const n = BUCKETS - 1;
  const kanonTopKMs = await time(n, (i) => kanon.topK('bench', q(i)));
  const dpFirstMs = await time(n, (i) => dp.topK('bench', q(i)));
  const dpRepeatMs = await time(n, (i) => dp.topK('bench', q(i)));
  const kanonRepeatMs = await time(n, (i) => kanon.topK('bench', q(i)));

  const result = {
    date: new Date().toISOString(),
    cellsPerBucket: CELLS,
    buckets: n,
    threshold: mechanism.threshold,
    loadavg: { ...load, end: loadavg() },
    sampling: {
      kAnonymityMsPerBucket: kanonMs,
      dpMsPerBucket: sampleMs,
      dpUsPerCell: (sampleMs * 1000) / CELLS,
      ratio: sampleMs / kanonMs,
    },
    firstQuestion: { kAnonymityMs: kanonTopKMs, dpReleaseMs: dpFirstMs, ratio: dpFirstMs / kanonTopKMs },
    repeatedQuestion: {
      kAnonymityMs: kanonRepeatMs,
      dpStoredMs: dpRepeatMs,
      ratio: dpRepeatMs / kanonRepeatMs,
    },
  };
  writeFileSync(join(import.meta.dirname, 'results', 'dp.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
  if (sink < 0) console.log(sink);
} finally {
  await db.close();
  await tmp.drop();
}
