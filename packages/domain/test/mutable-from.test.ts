// PartitionAggregator.mutableFromMs(): nothing that starts before it is ever updated again. It is what
// a processor generation's drain check relies on (docs/operations.md, changing the partition count).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PartitionAggregator } from '../src/index.ts';
import { MIN, ping, SEC, T0, X, X2, Y, Z } from './helpers.ts';

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('-Infinity before the first ping; never above a stay still open', () => {
  const agg = new PartitionAggregator({ allowedLatenessMs: 5 * MIN, presenceMaxGapMs: 5 * MIN });
  assert.equal(agg.mutableFromMs(), Number.NEGATIVE_INFINITY);
  // A stay at X from T0 that goes on for an hour keeps everything from T0 open.
  for (let m = 0; m <= 60; m += 2) agg.add(ping('A', T0 + m * MIN, X));
  agg.drainUpdates();
  assert.ok(agg.mutableFromMs() <= T0, `${agg.mutableFromMs() - T0}`);
  // It ends: once the watermark is past its last ping by more than a gap, the stay is final.
  for (let m = 61; m <= 90; m += 2) agg.add(ping('B', T0 + m * MIN, Y));
  agg.drainUpdates();
  assert.ok(agg.mutableFromMs() > T0 + 60 * MIN, `${(agg.mutableFromMs() - T0) / MIN} min`);
});

test('no update ever starts before an earlier mutableFromMs (seeded random streams, late pings included)', () => {
  const cells = [X, X2, Y, Z];
  for (let seed = 1; seed <= 40; seed++) {
    const r = rng(seed);
    const agg = new PartitionAggregator({ allowedLatenessMs: 10 * MIN, presenceMaxGapMs: 5 * MIN });
    let now = T0;
    let bound = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < 600; i++) {
      now += Math.floor(r() * 40 * SEC);
      // Mostly in order; one in ten up to 15 min late (some beyond lateness: dropped).
      const t = r() < 0.1 ? now - Math.floor(r() * 15 * MIN) : now;
      const device = `d${Math.floor(r() * 6)}`;
      agg.add(ping(device, t, cells[Math.floor(r() * cells.length)] as string));
      if (r() < 0.3) {
        const u = agg.drainUpdates();
        for (const o of u.occupancy) {
          assert.ok(
            o.bucketStartMs >= bound,
            `seed ${seed}: occupancy ${o.bucketStartMs - T0} < ${bound - T0}`,
          );
        }
        for (const v of u.visits) {
          assert.ok(v.startMs >= bound, `seed ${seed}: visit ${v.startMs - T0} < ${bound - T0}`);
        }
        bound = Math.max(bound, agg.mutableFromMs());
      }
    }
  }
});
