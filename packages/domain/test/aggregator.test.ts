import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PartitionAggregator, regionOf } from '../src/index.ts';
import { MIN, ping, SEC, T0, View, X, X2, Y, Z } from './helpers.ts';

function feed(agg: PartitionAggregator, view: View, ...pings: ReturnType<typeof ping>[]): string[] {
  const results = pings.map((p) => agg.add(p));
  view.apply(agg.drainUpdates());
  return results;
}

/** Occupancy of `cell` for the buckets T0 + from .. T0 + to minutes (inclusive). */
function series(view: View, cell: string, fromMin: number, toMin: number): number[] {
  const out: number[] = [];
  for (let m = fromMin; m <= toMin; m++) out.push(view.occupancy(cell, T0 + m * MIN));
  return out;
}

test('worked example of docs/insights.md', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  feed(
    agg,
    view,
    ping('A', T0 + 10 * SEC, X),
    ping('B', T0 + 1 * MIN, X),
    ping('A', T0 + 2 * MIN + 30 * SEC, X2),
    ping('C', T0 + 3 * MIN + 20 * SEC, Y),
    ping('C', T0 + 3 * MIN + 40 * SEC, Y),
    ping('C', T0 + 4 * MIN + 50 * SEC, Y),
    ping('A', T0 + 6 * MIN, X),
    ping('B', T0 + 20 * MIN, X),
  );
  assert.deepEqual(series(view, X, 0, 7), [1, 2, 1, 1, 1, 1, 1, 0]);
  assert.deepEqual(series(view, X, 19, 21), [0, 1, 0]);
  assert.deepEqual(series(view, Y, 2, 5), [0, 1, 1, 0]);
  assert.deepEqual(series(view, X2, 0, 21), new Array(22).fill(0));
  assert.equal(view.occ.size, 10);
  assert.equal(view.occPings.get(`${X}|${T0 + 2 * MIN}`), 1, 'jitter ping attributed to X');
  assert.equal(view.occPings.get(`${Y}|${T0 + 3 * MIN}`), 2);
  assert.deepEqual(view.visitList(), [`A|${X}|${T0 + 10 * SEC}-${T0 + 6 * MIN}|3`]);

  // Late ping of B joins its two pings into one stay.
  assert.deepEqual(feed(agg, view, ping('B', T0 + 10 * MIN, X)), ['accepted']);
  assert.deepEqual(series(view, X, 0, 21), [1, 2, 2, 2, 2, 2, 2, ...new Array(14).fill(1), 0]);
  assert.deepEqual(view.visitList(), [
    `A|${X}|${T0 + 10 * SEC}-${T0 + 6 * MIN}|3`,
    `B|${X}|${T0 + 1 * MIN}-${T0 + 20 * MIN}|3`,
  ]);

  // A ping 3 h later moves the watermark past everything: visits close, state is evicted.
  feed(agg, view, ping('S', T0 + 180 * MIN, Y));
  assert.equal(view.closedEmissions, 2);
  assert.ok([...view.visits.values()].every((v) => v.closed));
  const s = agg.stats();
  assert.equal(s.devices, 1);
  assert.equal(s.openBuckets, 1);
  assert.equal(s.dedupIds, 1);
  assert.equal(s.windowPings, 1);
  assert.equal(s.watermarkMs, T0 + 120 * MIN);
});

test('distinct devices: many pings of one device count once', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  for (let i = 0; i < 20; i++) agg.add(ping('A', T0 + i * 2 * SEC, X));
  view.apply(agg.drainUpdates());
  assert.equal(view.occupancy(X, T0), 1);
  assert.equal(view.occPings.get(`${X}|${T0}`), 20);
  assert.equal(agg.occupancyAt(X, T0), 1);
});

test('occupancy updates carry the region and are emitted only when changed', () => {
  const agg = new PartitionAggregator();
  agg.add(ping('A', T0, X));
  const u1 = agg.drainUpdates();
  assert.deepEqual(u1.occupancy, [
    { cell: X, region: regionOf(X, 5), bucketStartMs: T0, devices: 1, pings: 1 },
  ]);
  assert.deepEqual(agg.drainUpdates(), { occupancy: [], visits: [] });
});

test('presence is carried across buckets when the gap is <= presenceMaxGapMs', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  feed(agg, view, ping('A', T0 + 30 * SEC, X), ping('A', T0 + 10 * MIN + 30 * SEC, X));
  assert.deepEqual(series(view, X, 0, 11), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
});

test('presence is not carried when the gap exceeds presenceMaxGapMs', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  feed(agg, view, ping('A', T0 + 30 * SEC, X), ping('A', T0 + 10 * MIN + 30 * SEC + 1, X));
  assert.deepEqual(series(view, X, 0, 11), [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
  assert.deepEqual(view.visitList(), []);
});

test('jitter into a neighbour stays in the anchor visit and does not count in the neighbour', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  feed(
    agg,
    view,
    ping('A', T0, X),
    ping('A', T0 + 2 * MIN, X2),
    ping('A', T0 + 4 * MIN, X2),
    ping('A', T0 + 7 * MIN, X),
  );
  assert.deepEqual(series(view, X, 0, 8), [1, 1, 1, 1, 1, 1, 1, 1, 0]);
  assert.deepEqual(series(view, X2, 0, 8), new Array(9).fill(0));
  assert.deepEqual(view.visitList(), [`A|${X}|${T0}-${T0 + 7 * MIN}|4`]);
});

test('a stay that starts in the neighbour is anchored there', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  feed(agg, view, ping('A', T0, X2), ping('A', T0 + 6 * MIN, X));
  assert.deepEqual(view.visitList(), [`A|${X2}|${T0}-${T0 + 6 * MIN}|2`]);
  assert.equal(view.occupancy(X, T0 + 6 * MIN), 0);
});

test('a ping beyond the jitter ring starts a new stay', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  feed(agg, view, ping('A', T0, X), ping('A', T0 + 6 * MIN, Z), ping('A', T0 + 12 * MIN, Z));
  assert.deepEqual(view.visitList(), [`A|${Z}|${T0 + 6 * MIN}-${T0 + 12 * MIN}|2`]);
  assert.deepEqual(series(view, X, 0, 2), [1, 0, 0]);
  assert.deepEqual(series(view, Z, 5, 13), [0, 1, 1, 1, 1, 1, 1, 1, 0]);
});

test('a gap longer than presenceMaxGapMs splits visits', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  const ps = [];
  for (let m = 0; m <= 6; m++) ps.push(ping('A', T0 + m * MIN, X));
  for (let m = 20; m <= 26; m++) ps.push(ping('A', T0 + m * MIN, X));
  feed(agg, view, ...ps);
  assert.deepEqual(view.visitList(), [
    `A|${X}|${T0}-${T0 + 6 * MIN}|7`,
    `A|${X}|${T0 + 20 * MIN}-${T0 + 26 * MIN}|7`,
  ]);
});

test('visits shorter than minVisitMs are not reported, and are once they reach it', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  feed(agg, view, ping('A', T0, X), ping('A', T0 + 5 * MIN - 1, X));
  assert.deepEqual(view.visitList(), []);
  const u = agg.add(ping('A', T0 + 5 * MIN, X));
  assert.equal(u, 'accepted');
  const drained = agg.drainUpdates();
  assert.equal(drained.visits.length, 1);
  assert.deepEqual(drained.visits[0], {
    deviceId: 'A',
    cell: X,
    region: regionOf(X, 5),
    startMs: T0,
    endMs: T0 + 5 * MIN,
    pings: 3,
    closed: false,
    retracted: false,
  });
});

test('a visit that grows between drains is emitted once per drain with its latest value', () => {
  const agg = new PartitionAggregator();
  for (let m = 0; m <= 8; m++) agg.add(ping('A', T0 + m * MIN, X));
  agg.add(ping('A', T0 + 30 * MIN, Y)); // new stay, previous one ends at 8 min
  const visits = agg.drainUpdates().visits;
  assert.deepEqual(
    visits.map((v) => [v.cell, v.startMs - T0, v.endMs - T0, v.pings]),
    [[X, 0, 8 * MIN, 9]],
  );
});

test('a late ping within lateness updates the right bucket', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  feed(agg, view, ping('B', T0 + 50 * MIN, Y), ping('A', T0 + 30 * SEC, X));
  assert.equal(view.occupancy(X, T0), 1);
  assert.deepEqual(feed(agg, view, ping('C', T0 + 5 * MIN + 1, X)), ['accepted']);
  assert.equal(view.occupancy(X, T0 + 5 * MIN), 1);
  assert.equal(view.occupancy(X, T0 + 4 * MIN), 0);
  assert.equal(agg.stats().lateDropped, 0);
});

test('too-late pings are dropped and counted; the watermark is inclusive', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  feed(agg, view, ping('A', T0 + 120 * MIN, X));
  assert.equal(agg.stats().watermarkMs, T0 + 60 * MIN);
  assert.deepEqual(feed(agg, view, ping('B', T0 + 60 * MIN - 1, X), ping('C', T0 + 60 * MIN, X)), [
    'late',
    'accepted',
  ]);
  assert.equal(view.occupancy(X, T0 + 59 * MIN), 0);
  assert.equal(view.occupancy(X, T0 + 60 * MIN), 1);
  const s = agg.stats();
  assert.equal(s.lateDropped, 1);
  assert.equal(s.accepted, 2);
});

test('duplicates never count twice', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  const r = feed(
    agg,
    view,
    ping('A', T0, X, 10, 'id1'),
    ping('A', T0 + 6 * MIN, X, 10, 'id2'),
    ping('A', T0 + 6 * MIN, X, 10, 'id2'),
    ping('A', T0 + 3 * MIN, X, 10, 'id2'), // same id, other payload: still a duplicate
    ping('B', T0, X, 10, 'id1'), // same id, other device: a different ping
  );
  assert.deepEqual(r, ['accepted', 'accepted', 'duplicate', 'duplicate', 'accepted']);
  assert.equal(view.occupancy(X, T0), 2);
  assert.equal(view.occPings.get(`${X}|${T0 + 6 * MIN}`), 1);
  assert.deepEqual(view.visitList(), [`A|${X}|${T0}-${T0 + 6 * MIN}|2`]);
  assert.equal(agg.stats().duplicates, 2);
});

test('inaccurate pings are ignored for presence and counted', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  const r = feed(agg, view, ping('A', T0, X, 150), ping('A', T0, X, 150, 'x'), ping('B', T0, X, 100));
  assert.deepEqual(r, ['inaccurate', 'inaccurate', 'accepted']);
  assert.equal(view.occupancy(X, T0), 1);
  assert.deepEqual(feed(agg, view, ping('A', T0 + MIN, X, 10, 'x')), ['duplicate']);
  assert.equal(agg.stats().inaccurate, 2);
});

test('an out-of-order far ping splits an emitted visit: the visit is retracted', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  feed(agg, view, ping('A', T0, X), ping('A', T0 + 6 * MIN, X));
  assert.deepEqual(view.visitList(), [`A|${X}|${T0}-${T0 + 6 * MIN}|2`]);
  assert.deepEqual(series(view, X, 0, 6), [1, 1, 1, 1, 1, 1, 1]);
  agg.add(ping('A', T0 + 3 * MIN, Y));
  const u = agg.drainUpdates();
  assert.deepEqual(
    u.visits.map((v) => [v.cell, v.startMs - T0, v.retracted]),
    [[X, 0, true]],
  );
  view.apply(u);
  assert.deepEqual(view.visitList(), []);
  assert.deepEqual(series(view, X, 0, 6), [1, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(series(view, Y, 2, 4), [0, 1, 0]);
});

test('an out-of-order earlier ping moves the visit start: new key emitted, old key retracted', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  feed(agg, view, ping('A', T0 + 10 * MIN, X), ping('A', T0 + 16 * MIN, X));
  feed(agg, view, ping('A', T0 + 5 * MIN, X2));
  assert.deepEqual(view.visitList(), [`A|${X2}|${T0 + 5 * MIN}-${T0 + 16 * MIN}|3`]);
  assert.deepEqual(series(view, X, 4, 17), new Array(14).fill(0));
  assert.deepEqual(series(view, X2, 4, 17), [0, ...new Array(12).fill(1), 0]);
});

test('visits close once the watermark passes end + presenceMaxGapMs, exactly once', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  feed(agg, view, ping('A', T0, X), ping('A', T0 + 6 * MIN, X));
  // watermark = T0 + 16 min: end + gap = T0 + 16 min, not yet strictly past.
  feed(agg, view, ping('B', T0 + 76 * MIN, Y));
  assert.equal(view.visits.get(`A|${X}|${T0}`)?.closed, false);
  feed(agg, view, ping('B', T0 + 77 * MIN, Y));
  assert.equal(view.visits.get(`A|${X}|${T0}`)?.closed, true);
  assert.equal(view.closedEmissions, 1);
  feed(agg, view, ping('B', T0 + 300 * MIN, Y));
  assert.equal(view.closedEmissions, 1);
});

test('a stay followed by another stay before the watermark closes early', () => {
  const agg = new PartitionAggregator({ allowedLatenessMs: 10 * MIN });
  const view = new View();
  feed(agg, view, ping('A', T0, X), ping('A', T0 + 6 * MIN, X), ping('A', T0 + 7 * MIN, Y));
  feed(agg, view, ping('A', T0 + 13 * MIN, Y));
  assert.equal(view.visits.get(`A|${X}|${T0}`)?.closed, false);
  // Watermark T0 + 8 min: the X stay is followed by a folded Y ping, so it is final (not T0 + 16 min).
  feed(agg, view, ping('B', T0 + 18 * MIN, Y));
  assert.equal(view.visits.get(`A|${X}|${T0}`)?.closed, true);
  assert.equal(view.visits.get(`A|${Y}|${T0 + 7 * MIN}`)?.closed, false);
});

test('eviction bounds memory', () => {
  const agg = new PartitionAggregator();
  const view = new View();
  let peakWindow = 0;
  let peakBuckets = 0;
  for (let s = 0; s < 6 * 3600; s += 30) {
    for (let d = 0; d < 50; d++) agg.add(ping(`d${d}`, T0 + s * SEC + d, d % 2 ? X : Y));
    if (s % 600 === 0) {
      view.apply(agg.drainUpdates());
      const st = agg.stats();
      peakWindow = Math.max(peakWindow, st.windowPings);
      peakBuckets = Math.max(peakBuckets, st.openBuckets);
    }
  }
  // Lateness 1 h at one ping / 30 s / device: 121 pings >= watermark (+2 per eviction period), plus up to
  // a third of that below the watermark awaiting a batched fold (folds happen once >= 1/4 is foldable).
  assert.ok(peakWindow <= 50 * 165, `window ${peakWindow}`);
  assert.ok(peakWindow >= 50 * 120, `window ${peakWindow}`);
  // Buckets within lateness + gap (+1 partial, +1 eviction period).
  assert.ok(peakBuckets <= 60 + 10 + 2, `buckets ${peakBuckets}`);
  const before = agg.stats();
  assert.equal(before.devices, 50);
  agg.add(ping('S', T0 + 24 * 3600 * SEC, X));
  view.apply(agg.drainUpdates());
  const after = agg.stats();
  assert.equal(after.devices, 1);
  assert.equal(after.dedupIds, 1);
  assert.equal(after.openBuckets, 1);
  // Each device made one long stay; all 50 were closed exactly once.
  assert.equal(view.closedEmissions, 50);
  assert.equal(view.visits.size, 50);
  assert.equal(view.occupancy(X, T0 + 60 * MIN), 25);
});

test('options are validated and frozen', () => {
  assert.throws(() => new PartitionAggregator({ bucketMs: 0 }), RangeError);
  assert.throws(() => new PartitionAggregator({ jitterRing: 1.5 }), RangeError);
  const agg = new PartitionAggregator({ bucketMs: 30_000 });
  assert.equal(agg.options.bucketMs, 30_000);
  assert.equal(agg.options.presenceMaxGapMs, 600_000);
  assert.ok(Object.isFrozen(agg.options));
});
