// Heap held by PartitionAggregator state per device, idle baseline subtracted (not a test).
// Run: ./node_modules/.bin/node --expose-gc packages/domain/bench/state-memory.bench.ts [devices] [minutes]
// Every device pings once a minute of event time for `minutes` (default 90: the 1 h lateness window is
// full and folding is in steady state), staying ~10 min in a cell, 20 % of pings in a neighbour cell.
import { gridDisk, latLngToCell } from 'h3-js';
import { PartitionAggregator, type PingEvent } from '../src/index.ts';

const devices = Number(process.argv[2] ?? 20_000);
const minutes = Number(process.argv[3] ?? 90);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

let seed = 7;
const rnd = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const cells = gridDisk(latLngToCell(52.52, 13.405, 10), 25).slice(0, 2_000);
const neighbours = new Map(cells.map((c) => [c, gridDisk(c, 1)]));
const place = Array.from({ length: devices }, () => cells[Math.floor(rnd() * cells.length)] as string);
const t0 = Date.UTC(2025, 0, 1);

function heap(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

const baseline = heap();
const agg = new PartitionAggregator();
let seq = 0;
for (let m = 0; m < minutes; m++) {
  for (let d = 0; d < devices; d++) {
    if (rnd() < 0.1) place[d] = cells[Math.floor(rnd() * cells.length)] as string;
    const home = place[d] as string;
    const ring = neighbours.get(home) as string[];
    // Fresh strings, as decoded from Kafka (not shared with the generator).
    const cell = `${rnd() < 0.2 ? (ring[Math.floor(rnd() * ring.length)] as string) : home}`;
    const p: PingEvent = {
      pingId: `p${seq++}`,
      deviceId: `device-${d}`,
      eventTimeMs: t0 + m * 60_000 + Math.floor((d / devices) * 60_000),
      cell: cell.slice(0),
      accuracyM: 20,
    };
    agg.add(p);
  }
  agg.drainUpdates();
}
const held = heap() - baseline;
const st = agg.stats();
const perDevice = held / st.devices;
console.log(
  JSON.stringify({
    devices: st.devices,
    windowPings: st.windowPings,
    cellBuckets: st.openCellBuckets,
    heapBytes: held,
    bytesPerDevice: Math.round(perDevice),
    heapPerMillionDevicesBytes: Math.round(perDevice * 1e6),
  }),
);
