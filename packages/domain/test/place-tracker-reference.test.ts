import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32, withSeed } from '@footfall/testing';
import { gridDisk } from 'h3-js';
import {
  PartitionAggregator,
  type PlaceDef,
  PlaceIndex,
  type PlaceOccupancyUpdate,
  PlaceTracker,
} from '../src/index.ts';
import { MIN, ping, SEC, T0, X } from './helpers.ts';
import { ReferencePlaceTracker } from './place-reference.ts';

// The optimised PlaceTracker (typed-array counts, cell numbers, presence runs) against the plain
// per-place device maps it replaced (place-reference.ts), fed the same pings: random out-of-order
// pings of devices moving between cells (several cells of one place in one bucket), overlapping places,
// and definitions changed, moved in effective time both ways, deleted and re-created mid-stream (and
// once more changes than the index's change log keeps). Every drain must carry the same updates, and
// every held (place, bucket) the same count, which must also be the brute-force union of its cells.

const key = (u: PlaceOccupancyUpdate) =>
  `${u.placeId}|${u.bucketStartMs}|${u.devices}|v${u.version}|${u.region}`;

function run(random: () => number, label: string): void {
  const cells = gridDisk(X, 3);
  const pick = () => cells[Math.floor(random() * cells.length)] as string;
  const index = new PlaceIndex();
  const versions = new Map<string, number>();
  let clock = T0;
  const define = (id: string) => {
    const n = 1 + Math.floor(random() * 6);
    const mine = [...new Set(Array.from({ length: n }, pick))];
    const version = (versions.get(id) ?? 0) + 1;
    versions.set(id, version);
    // Effective from a bucket between 25 min before and 5 min after the latest event time.
    const eff = Math.floor((clock + (random() * 30 - 25) * MIN) / MIN) * MIN;
    const def: PlaceDef = {
      id,
      version,
      cells: mine,
      effectiveFromMs: eff,
      region: random() < 0.5 ? 'r1' : 'r2',
    };
    index.upsert(def);
  };
  for (let p = 0; p < 12; p++) define(`p${p}`);
  const options = { allowedLatenessMs: 20 * MIN };
  const a = new PartitionAggregator(options);
  const tracker = new PlaceTracker(index, a);
  a.observePlaces(tracker);
  const b = new PartitionAggregator(options);
  const reference = new ReferencePlaceTracker(index, b);
  b.observePlaces(reference);
  const where = new Map<number, string>();
  const check = (step: number) => {
    for (const bucket of b.openBucketStarts()) {
      const got = new Map<string, string>();
      const want = new Map<string, string>();
      tracker.forEachPlaceOf(bucket, (d, n) => got.set(d.id, `${n} v${d.version} ${d.region}`));
      reference.forEachPlaceOf(bucket, (d, n) => want.set(d.id, `${n} v${d.version} ${d.region}`));
      assert.deepEqual(
        [...got].sort(),
        [...want].sort(),
        `${label} step ${step}: places of bucket ${bucket}`,
      );
      for (const def of index.values()) {
        const n = tracker.devicesAt(def.id, bucket) ?? 0;
        assert.equal(
          n,
          reference.devicesAt(def.id, bucket) ?? 0,
          `${label} step ${step}: ${def.id} ${bucket}`,
        );
        if (bucket < def.effectiveFromMs) continue;
        const union = new Set<number>();
        for (const c of def.cells) for (const d of b.presentIn(c, bucket)?.keys() ?? []) union.add(d);
        assert.equal(n, union.size, `${label} step ${step}: ${def.id} ${bucket} vs the union of its cells`);
      }
    }
  };
  let overflowed = false;
  for (let i = 0; i < 4000; i++) {
    const d = Math.floor(random() * 40);
    // Mostly stay (the same or a neighbouring cell: one stay), sometimes jump (a new stay, another cell).
    const r = random();
    const cell =
      r < 0.6 ? (where.get(d) ?? pick()) : r < 0.8 ? (gridDisk(where.get(d) ?? X, 1)[1] as string) : pick();
    where.set(d, cell);
    clock += Math.floor(random() * 2 * SEC);
    const t = random() < 0.15 ? clock - Math.floor(random() * 15 * MIN) : clock;
    const p = ping(`d${d}`, t, cell);
    a.add(p);
    b.add(p);
    const m = random();
    if (m < 0.01) define(`p${Math.floor(random() * 14)}`);
    else if (m < 0.013) index.remove(`p${Math.floor(random() * 14)}`);
    if (!overflowed && i > 2500) {
      // More changes than the change log keeps: both trackers fall back to "every place changed".
      for (let k = 0; k <= 10_000; k++) define('churn');
      index.remove('churn');
      overflowed = true;
    }
    if (random() < 0.05) {
      const got = a.drainUpdates().places ?? [];
      const want = b.drainUpdates().places ?? [];
      assert.deepEqual(got.map(key).sort(), want.map(key).sort(), `${label} step ${i}: drained updates`);
    }
    if (i % 500 === 499) check(i);
  }
  const got = a.drainUpdates().places ?? [];
  assert.deepEqual(
    got.map(key).sort(),
    (b.drainUpdates().places ?? []).map(key).sort(),
    `${label}: last drain`,
  );
  check(4000);
}

test('the place tracker equals the plain per-place device maps (random pings and definitions)', async (t) => {
  for (const seed of [1, 2, 3]) run(mulberry32(seed), `seed ${seed}`);
  await withSeed(t, (random, seed) => run(random, `TEST_SEED=${seed}`));
});
