import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '@footfall/testing';
import { gridRingUnsafe } from 'h3-js';
import { boundedCounts, PartitionAggregator, type PingEvent } from '../src/index.ts';
import { MIN, ping, SEC, T0, View, X, Y, Z } from './helpers.ts';

const HOUR = 3_600_000;
const FIXED_SEED = 13_013;
const seedOf = () => (process.env.TEST_SEED ? Number(process.env.TEST_SEED) : FIXED_SEED);

test('boundedCounts: at most C cells per device and bucket, the earliest-started stays win', () => {
  const b = T0;
  const counts = boundedCounts(
    [
      { cell: 'a', bucketStartMs: b, device: 1, stayStarts: [b + 30] },
      { cell: 'b', bucketStartMs: b, device: 1, stayStarts: [b + 10] },
      { cell: 'c', bucketStartMs: b, device: 1, stayStarts: [b + 20] },
      { cell: 'a', bucketStartMs: b, device: 2, stayStarts: [b] },
    ],
    { maxCellsPerBucket: 2, visitWindowMs: HOUR },
  );
  assert.deepEqual(Object.fromEntries(counts.get(b) ?? []), { a: 1, b: 1, c: 1 });
  const one = boundedCounts(
    [
      { cell: 'a', bucketStartMs: b, device: 1, stayStarts: [b + 30] },
      { cell: 'b', bucketStartMs: b, device: 1, stayStarts: [b + 10] },
    ],
    { maxCellsPerBucket: 1, visitWindowMs: HOUR },
  );
  assert.deepEqual(Object.fromEntries(one.get(b) ?? []), { a: 0, b: 1 });
});

test('boundedCounts: one visit per cell per hour (a return within the hour does not count)', () => {
  const o = { maxCellsPerBucket: 3, visitWindowMs: HOUR };
  const p = (minute: number, start: number) => ({
    cell: 'a',
    bucketStartMs: T0 + minute * MIN,
    device: 7,
    stayStarts: [T0 + start * MIN],
  });
  // First stay 12:00–12:01, back at 12:30 (same hour: not counted), back at 13:05 (next hour: counted).
  const counts = boundedCounts([p(0, 0), p(1, 0), p(30, 30), p(31, 30), p(65, 65)], o);
  const at = (minute: number) => counts.get(T0 + minute * MIN)?.get('a');
  assert.deepEqual([at(0), at(1), at(30), at(31), at(65)], [1, 1, 0, 0, 1]);
});

/** Devices that jump between far-apart cells several times per bucket, with pings every 15 s. */
function restlessPings(devices: number, minutes: number, random: () => number): PingEvent[] {
  // Every third cell of a wide ring: 80 cells, never within the jitter ring of each other.
  const cells = gridRingUnsafe(X, 40).filter((_, i) => i % 3 === 0);
  const out: PingEvent[] = [];
  for (let t = 0; t < minutes * 4; t++) {
    for (let d = 0; d < devices; d++) {
      const cell = cells[Math.floor(random() * cells.length)] as string;
      out.push(ping(`d${d}`, T0 + t * 15 * SEC, cell));
    }
  }
  return out;
}

function run(pings: readonly PingEvent[], bounds?: { maxCellsPerBucket: number; visitWindowMs: number }) {
  const agg = new PartitionAggregator({ contributionBounds: bounds });
  const view = new View();
  // Drained every 50 pings, as the processor drains every EMIT_INTERVAL_MS.
  pings.forEach((p, i) => {
    agg.add(p);
    if (i % 50 === 49) view.apply(agg.drainUpdates());
  });
  // Push the watermark far ahead so every bucket closes and its final value is emitted.
  agg.advanceWatermark(T0 + 10 * HOUR);
  view.apply(agg.drainUpdates());
  return view;
}

test('bounding, empirically: no bucket counts a device in more than C cells, and it changes the counts', (t) => {
  const seed = seedOf();
  t.diagnostic(`seed ${seed} (replay with TEST_SEED=${seed})`);
  const devices = 40;
  const pings = restlessPings(devices, 30, mulberry32(seed));
  for (const c of [1, 2]) {
    const view = run(pings, { maxCellsPerBucket: c, visitWindowMs: HOUR });
    const perBucket = new Map<number, number>();
    for (const [key, n] of view.occ) {
      const b = Number(key.split('|')[1]);
      perBucket.set(b, (perBucket.get(b) ?? 0) + n);
    }
    assert.ok(perBucket.size >= 10, `[TEST_SEED=${seed}] C=${c}: ${perBucket.size} buckets counted`);
    for (const [b, total] of perBucket) {
      assert.ok(
        total <= c * devices,
        `[TEST_SEED=${seed}] C=${c}: bucket ${b} sums ${total} > ${c * devices}`,
      );
    }
  }
  // Without bounding the same walk counts devices in many cells per bucket (the bound is not vacuous).
  let unbounded = 0;
  for (const n of run(pings).occ.values()) unbounded += n;
  let bounded = 0;
  for (const n of run(pings, { maxCellsPerBucket: 1, visitWindowMs: HOUR }).occ.values()) bounded += n;
  assert.ok(unbounded > 2 * bounded, `[TEST_SEED=${seed}] unbounded ${unbounded} vs bounded ${bounded}`);
});

test('bounding, empirically: one visit per cell per hour over an aggregated walk', () => {
  // One device alternates X and Y (far apart) every 10 minutes for 2 hours, a ping per minute.
  const pings: PingEvent[] = [];
  for (let m = 0; m < 120; m++) pings.push(ping('w', T0 + m * MIN, Math.floor(m / 10) % 2 === 0 ? X : Y));
  const view = run(pings, { maxCellsPerBucket: 1, visitWindowMs: HOUR });
  const minutesAt = (cell: string, hour: number) => {
    const out: number[] = [];
    for (let m = hour * 60; m < hour * 60 + 60; m++) if (view.occupancy(cell, T0 + m * MIN) > 0) out.push(m);
    return out;
  };
  // X: only the first stay of each hour (12:00–12:09, 13:00–13:09), Y: only 12:10–12:19 and 13:10–13:19.
  assert.deepEqual(minutesAt(X, 0), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(minutesAt(Y, 0), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  assert.deepEqual(minutesAt(X, 1), [60, 61, 62, 63, 64, 65, 66, 67, 68, 69]);
  assert.deepEqual(minutesAt(Y, 1), [70, 71, 72, 73, 74, 75, 76, 77, 78, 79]);
  // Without bounding the returns count too.
  assert.ok(run(pings).occupancy(X, T0 + 20 * MIN) === 1);
});

test('bounded counts do not depend on arrival order within lateness (replay-safe)', (t) => {
  const seed = seedOf();
  t.diagnostic(`seed ${seed} (replay with TEST_SEED=${seed})`);
  const random = mulberry32(seed);
  const pings = restlessPings(15, 20, random);
  pings.push(ping('z', T0, Z), ping('z', T0 + 5 * MIN, Z));
  const shuffled = [...pings];
  // Shuffle within 20-minute blocks (well within the 1 h lateness).
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.max(0, i - Math.floor(random() * 40));
    [shuffled[i], shuffled[j]] = [shuffled[j] as PingEvent, shuffled[i] as PingEvent];
  }
  const bounds = { maxCellsPerBucket: 2, visitWindowMs: HOUR };
  assert.deepEqual(
    [...run(shuffled, bounds).occ].sort(),
    [...run(pings, bounds).occ].sort(),
    `[TEST_SEED=${seed}]`,
  );
});
