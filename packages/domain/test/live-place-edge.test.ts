import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  LiveEdge,
  LivePlaceEdge,
  type LivePlaceOccupancyUpdate,
  PartitionAggregator,
  type PlaceDef,
  PlaceIndex,
  PlaceTracker,
} from '../src/index.ts';
import { MIN, ping, SEC, T0, X, Y, Z } from './helpers.ts';

const edgeOptions = {
  bucketMs: MIN,
  presenceMaxGapMs: 10 * MIN,
  horizonMs: 15 * MIN,
  settleMs: 30 * MIN,
  delayWindowMs: 30 * MIN,
  learnMinCount: 1,
};
const def = (id: string, cells: string[], version = 1): PlaceDef => ({
  id,
  version,
  cells,
  effectiveFromMs: 0,
  region: 'r',
});

function setup() {
  const index = new PlaceIndex();
  index.upsert(def('station', [X, Z]));
  const agg = new PartitionAggregator();
  const tracker = new PlaceTracker(index, agg);
  agg.observePlaces(tracker);
  const edge = new LiveEdge(edgeOptions);
  const places = new LivePlaceEdge(edge, tracker, index);
  const table = new Map<string, LivePlaceOccupancyUpdate>();
  const snapshot = (nowMs: number) => {
    agg.drainUpdates();
    edge.snapshot(agg, nowMs);
    for (const u of places.snapshot(agg, nowMs)) table.set(`${u.placeId}|${u.bucketStartMs}`, u);
  };
  const at = (b: number) => table.get(`station|${b}`);
  return { agg, tracker, snapshot, at, index };
}

test('a place live count is distinct devices: a device in two cells of the place counts once, confirmed or carried', () => {
  const { agg, snapshot, at } = setup();
  // A: X then Z (two cells of the station) in one bucket; B: X only; C: elsewhere (Y).
  agg.add(ping('A', T0 + 10 * SEC, X));
  agg.add(ping('A', T0 + 40 * SEC, Z));
  agg.add(ping('B', T0 + 20 * SEC, X));
  agg.add(ping('C', T0 + 20 * SEC, Y));
  snapshot(T0 + 3 * MIN + 30 * SEC);
  assert.deepEqual([at(T0)?.confirmed, at(T0)?.observed], [2, 2], 'the pings bucket: A once, B');
  for (let m = 1; m <= 3; m++) {
    const u = at(T0 + m * MIN);
    // Carried from each device's latest cell: A from Z, B from X: still two, never three.
    assert.deepEqual([u?.confirmed, u?.observed], [0, 2], `bucket +${m} min`);
    assert.ok((u?.estimate ?? 0) >= 0);
    assert.equal(u?.finalAtMs, T0 + (m + 1) * MIN + 15 * MIN);
    assert.equal(u?.version, 1);
  }
  assert.equal(at(T0 + 4 * MIN), undefined, 'nothing after now');
});

test('provisional place counts are revised by late pings and converge to the exact final count', () => {
  const { agg, tracker, snapshot, at } = setup();
  agg.add(ping('A', T0 + 10 * SEC, X));
  agg.add(ping('B', T0 + 20 * SEC, Z));
  snapshot(T0 + 2 * MIN + 30 * SEC);
  assert.deepEqual([at(T0 + 2 * MIN)?.confirmed, at(T0 + 2 * MIN)?.observed], [0, 2]);
  // A's later pings arrive: at +2 min in Z (the station), B's: at +1 min 30 in Y (left the station).
  agg.add(ping('A', T0 + 2 * MIN + 5 * SEC, Z));
  agg.add(ping('B', T0 + MIN + 30 * SEC, Y));
  snapshot(T0 + 2 * MIN + 40 * SEC);
  const u = at(T0 + 2 * MIN);
  assert.deepEqual([u?.confirmed, u?.observed], [1, 1], 'A confirmed, B no longer carried here');
  assert.equal(u?.confirmed, tracker.devicesAt('station', T0 + 2 * MIN), 'confirmed = the exact count');
  // Everybody left (B is at Y, A moves to Y): a bucket shown before with nobody left is withdrawn to 0.
  agg.add(ping('A', T0 + 2 * MIN + 50 * SEC, Y));
  agg.add(ping('A', T0 + 3 * MIN + 10 * SEC, Y));
  snapshot(T0 + 3 * MIN + 20 * SEC);
  assert.equal(at(T0 + 3 * MIN)?.observed ?? 0, 0);
});

test('a deleted place is withdrawn from the live edge', () => {
  const { agg, snapshot, at, index } = setup();
  agg.add(ping('A', T0 + 10 * SEC, X));
  snapshot(T0 + MIN + 10 * SEC);
  assert.equal(at(T0 + MIN)?.observed, 1);
  index.remove('station');
  snapshot(T0 + MIN + 20 * SEC);
  assert.equal(at(T0 + MIN)?.observed, 0);
});
