import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '@footfall/testing';
import { gridDisk, gridDistance, gridRingUnsafe } from 'h3-js';
import { DEFAULT_AGGREGATOR_OPTIONS, PartitionAggregator, type PingEvent } from '../src/index.ts';
import { MIN, SEC, T0, View, X } from './helpers.ts';

const O = DEFAULT_AGGREGATOR_OPTIONS;

/** Synthetic pings: stays with jitter, moves, gaps around presenceMaxGapMs, inaccurate pings, duplicates. */
function generate(seed: number, devices: number, hours: number): PingEvent[] {
  const rnd = mulberry32(seed);
  const places = [X, ...gridRingUnsafe(X, 3).slice(0, 3), ...gridRingUnsafe(X, 8).slice(0, 4)];
  const out: PingEvent[] = [];
  for (let d = 0; d < devices; d++) {
    let place = places[Math.floor(rnd() * places.length)] as string;
    let t = T0 + Math.floor(rnd() * 10 * MIN);
    let n = 0;
    while (t < T0 + hours * 60 * MIN) {
      let cell = place;
      const r = rnd();
      if (r < 0.3) {
        const ring = gridDisk(place, 1);
        cell = ring[Math.floor(rnd() * ring.length)] as string;
      } else if (r < 0.35) cell = gridRingUnsafe(place, 2)[0] as string;
      const p: PingEvent = {
        deviceId: `dev${d}`,
        pingId: `dev${d}-${n++}`,
        eventTimeMs: t,
        cell,
        accuracyM: rnd() < 0.05 ? 150 : 5 + Math.floor(rnd() * 60),
      };
      out.push(p);
      if (rnd() < 0.03) out.push({ ...p });
      if (rnd() < 0.02) place = places[Math.floor(rnd() * places.length)] as string;
      const g = rnd();
      if (g < 0.02) t += 0;
      else if (g < 0.05) t += 8 * MIN + Math.floor(rnd() * 12 * MIN);
      else t += 15 * SEC + Math.floor(rnd() * 105 * SEC);
    }
  }
  return out;
}

/** Straightforward re-implementation of docs/insights.md over the whole (sorted) input. */
function reference(pings: readonly PingEvent[]): { occ: Map<string, number>; visits: string[] } {
  const byDevice = new Map<string, Map<string, PingEvent>>();
  for (const p of pings) {
    if (!(p.accuracyM <= O.maxAccuracyM)) continue;
    let m = byDevice.get(p.deviceId);
    if (!m) {
      m = new Map();
      byDevice.set(p.deviceId, m);
    }
    if (!m.has(p.pingId)) m.set(p.pingId, p);
  }
  const occ = new Map<string, Set<string>>();
  const present = (cell: string, from: number, to: number, dev: string) => {
    for (let b = Math.floor(from / O.bucketMs) * O.bucketMs; b <= to; b += O.bucketMs) {
      const k = `${cell}|${b}`;
      let s = occ.get(k);
      if (!s) {
        s = new Set();
        occ.set(k, s);
      }
      s.add(dev);
    }
  };
  const visits: string[] = [];
  for (const [dev, m] of byDevice) {
    const ps = [...m.values()].sort((a, b) =>
      a.eventTimeMs !== b.eventTimeMs ? a.eventTimeMs - b.eventTimeMs : a.pingId < b.pingId ? -1 : 1,
    );
    let anchor = '';
    let start = 0;
    let last = 0;
    let count = 0;
    const close = () => {
      if (count > 0 && last - start >= O.minVisitMs)
        visits.push(`${dev}|${anchor}|${start}-${last}|${count}`);
    };
    for (const p of ps) {
      let dist = Number.POSITIVE_INFINITY;
      if (count > 0) {
        try {
          dist = gridDistance(anchor, p.cell);
        } catch {}
      }
      if (count > 0 && p.eventTimeMs - last <= O.presenceMaxGapMs && dist <= O.jitterRing) {
        present(anchor, last, p.eventTimeMs, dev);
        count++;
      } else {
        close();
        anchor = p.cell;
        start = p.eventTimeMs;
        count = 1;
        present(anchor, p.eventTimeMs, p.eventTimeMs, dev);
      }
      last = p.eventTimeMs;
    }
    close();
  }
  return { occ: new Map([...occ].map(([k, s]) => [k, s.size])), visits: visits.sort() };
}

function run(pings: readonly PingEvent[], drainProbability: number, seed: number) {
  const rnd = mulberry32(seed);
  const agg = new PartitionAggregator();
  const view = new View();
  const results = new Map<string, number>();
  for (const p of pings) {
    const r = agg.add(p);
    results.set(r, (results.get(r) ?? 0) + 1);
    if (rnd() < drainProbability) view.apply(agg.drainUpdates());
  }
  view.apply(agg.drainUpdates());
  // Flush: a far-future ping closes and evicts everything.
  const flushT = T0 + 48 * 60 * MIN;
  agg.add({ deviceId: 'flush', pingId: 'f', eventTimeMs: flushT, cell: X, accuracyM: 1 });
  view.apply(agg.drainUpdates());
  view.occ.delete(`${X}|${flushT}`);
  return { agg, view, results };
}

/** Arrival order: event time + a random delay below the allowed lateness (so nothing is late). */
function shuffleWithinLateness(pings: readonly PingEvent[], seed: number, maxDelayMs: number): PingEvent[] {
  const rnd = mulberry32(seed);
  return pings
    .map((p) => ({ p, k: p.eventTimeMs + rnd() * maxDelayMs }))
    .sort((a, b) => a.k - b.k)
    .map((x) => x.p);
}

for (const seed of [1, 2, 3, 4]) {
  test(`arrival order within lateness does not change the results (seed ${seed})`, () => {
    const pings = generate(seed, 30, 4);
    const ref = reference(pings);
    assert.ok(ref.visits.length > 20, `enough visits (${ref.visits.length})`);

    const sorted = [...pings].sort((a, b) => a.eventTimeMs - b.eventTimeMs);
    const orders: [string, PingEvent[], number][] = [
      ['sorted', sorted, 1],
      ['shuffled 10 min', shuffleWithinLateness(pings, seed * 7, 10 * MIN), 0.05],
      ['shuffled ~1 h', shuffleWithinLateness(pings, seed * 13, O.allowedLatenessMs * 0.99), 0.01],
      [
        'shuffled ~1 h, one drain per ping',
        shuffleWithinLateness(pings, seed * 17, O.allowedLatenessMs * 0.99),
        1,
      ],
    ];
    for (const [name, order, drainP] of orders) {
      const { agg, view, results } = run(order, drainP, seed);
      assert.equal(results.get('late') ?? 0, 0, name);
      assert.deepEqual(view.visitList(), ref.visits, `${name}: visits`);
      assert.equal(view.closedEmissions, ref.visits.length, `${name}: each visit closed once`);
      assert.deepEqual(new Map([...view.occ].sort()), new Map([...ref.occ].sort()), `${name}: occupancy`);
      const st = agg.stats();
      assert.equal(st.devices, 1, `${name}: idle devices evicted`);
      assert.equal(st.dedupIds, 1, `${name}: dedup ids evicted`);
    }
  });
}
