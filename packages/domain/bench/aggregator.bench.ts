// Micro-benchmark of PartitionAggregator.add + drainUpdates (not a test).
// Run: ./node_modules/.bin/node packages/domain/bench/aggregator.bench.ts [devices] [cells] [pings]
import { gridDisk, latLngToCell } from 'h3-js';
import { PartitionAggregator, type PingEvent } from '../src/index.ts';

const devices = Number(process.argv[2] ?? 10_000);
const cellCount = Number(process.argv[3] ?? 2_000);
const total = Number(process.argv[4] ?? 2_000_000);
const outOfOrder = 0.02;

let seed = 42;
const rnd = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const cells = gridDisk(latLngToCell(52.52, 13.405, 10), 30).slice(0, cellCount);
const neighbours = new Map(cells.map((c) => [c, gridDisk(c, 1)]));
const place = Array.from({ length: devices }, () => cells[Math.floor(rnd() * cells.length)] as string);
const deviceIds = Array.from({ length: devices }, (_, i) => `device-${i}`);
const t0 = Date.UTC(2025, 0, 1);
// Every device pings about every 30 s of event time, in round-robin order; 2 % arrive up to 2 min late.
const pings: PingEvent[] = new Array(total);
for (let i = 0; i < total; i++) {
  const d = i % devices;
  const round = Math.floor(i / devices);
  if (rnd() < 0.01) place[d] = cells[Math.floor(rnd() * cells.length)] as string;
  const home = place[d] as string;
  const ring = neighbours.get(home) as string[];
  const cell = rnd() < 0.2 ? (ring[Math.floor(rnd() * ring.length)] as string) : home;
  let t = t0 + round * 30_000 + Math.floor((d / devices) * 30_000);
  if (rnd() < outOfOrder) t -= Math.floor(rnd() * 120_000);
  pings[i] = { pingId: `p${i}`, deviceId: deviceIds[d] as string, eventTimeMs: t, cell, accuracyM: 20 };
}

function once(): number {
  const agg = new PartitionAggregator();
  let updates = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < total; i++) {
    agg.add(pings[i] as PingEvent);
    if (i % 5_000 === 4_999) {
      const u = agg.drainUpdates();
      updates += u.occupancy.length + u.visits.length;
    }
  }
  const u = agg.drainUpdates();
  updates += u.occupancy.length + u.visits.length;
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  const st = agg.stats();
  console.log(
    `${total} pings, ${devices} devices, ${cellCount} cells: ${(total / s).toFixed(0)} pings/s ` +
      `(${s.toFixed(2)} s, ${updates} updates, state: ${st.windowPings} pings, ${st.openCellBuckets} cell-buckets)`,
  );
  return total / s;
}

once(); // warm-up
once();
