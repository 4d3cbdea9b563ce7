import assert from 'node:assert/strict';
import { test } from 'node:test';
import { idleWatermarkMs, PartitionAggregator } from '../src/index.ts';
import { MIN, ping, SEC, T0, View, X } from './helpers.ts';

const LATENESS = 10 * MIN;

test('idleWatermarkMs: nothing before the idle timeout, then event time advances with the clock', () => {
  const last = 1_000_000;
  assert.equal(idleWatermarkMs(T0, last, last + 59_999, 60_000, LATENESS), Number.NEGATIVE_INFINITY);
  assert.equal(idleWatermarkMs(T0, last, last + 60_000, 60_000, LATENESS), T0 + 60_000 - LATENESS);
  assert.equal(idleWatermarkMs(T0, last, last + 3_600_000, 60_000, LATENESS), T0 + 3_600_000 - LATENESS);
  // Disabled, or nothing seen yet.
  assert.equal(idleWatermarkMs(T0, last, last + 3_600_000, 0, LATENESS), Number.NEGATIVE_INFINITY);
  assert.equal(
    idleWatermarkMs(Number.NEGATIVE_INFINITY, last, last + 3_600_000, 60_000, LATENESS),
    Number.NEGATIVE_INFINITY,
  );
});

test('advanceWatermark closes the open visit of a quiet partition; a ping behind it is then late', () => {
  const agg = new PartitionAggregator({ allowedLatenessMs: LATENESS });
  const view = new View();
  for (let m = 0; m <= 10; m++) agg.add(ping('A', T0 + m * MIN, X));
  view.apply(agg.drainUpdates());
  const key = `A|${X}|${T0}`;
  assert.deepEqual(
    [...view.visits.values()],
    [{ endMs: T0 + 10 * MIN, pings: 11, closed: false }],
    'open while the data watermark trails by the lateness',
  );

  // Quiet for 30 min of the clock: the idle watermark passes the stay's end by more than the gap.
  const w = idleWatermarkMs(agg.maxEventMs, 0, 30 * MIN, 60 * SEC, LATENESS);
  assert.ok(agg.advanceWatermark(w));
  assert.equal(agg.watermarkMs, T0 + 30 * MIN);
  assert.equal(agg.maxEventMs, T0 + 10 * MIN, 'the data max is unchanged (no compounding)');
  view.apply(agg.drainUpdates());
  assert.deepEqual([...view.visits.values()], [{ endMs: T0 + 10 * MIN, pings: 11, closed: true }]);
  assert.ok(view.visits.has(key));

  // The trade-off: a ping that would have been on time without the idle advance is now late.
  assert.equal(agg.add(ping('B', T0 + 25 * MIN, X)), 'late');
  assert.equal(agg.advanceWatermark(T0), false, 'the watermark never goes back');
  // A newer ping does not pull the watermark back either.
  assert.equal(agg.add(ping('B', T0 + 31 * MIN, X)), 'accepted');
  assert.equal(agg.watermarkMs, T0 + 30 * MIN);
});
