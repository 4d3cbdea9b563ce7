import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bucketStart,
  bucketsOverlapping,
  cellOf,
  isValidCell,
  kAnonymize,
  mergeOverlappingVisits,
  mergeTopK,
  regionOf,
  rollUpCell,
  timeSpentMs,
  topK,
} from '../src/index.ts';

test('bucketStart floors to the bucket, also for negative times', () => {
  assert.equal(bucketStart(0, 60_000), 0);
  assert.equal(bucketStart(59_999, 60_000), 0);
  assert.equal(bucketStart(60_000, 60_000), 60_000);
  assert.equal(bucketStart(-1, 60_000), -60_000);
});

test('bucketsOverlapping is inclusive of both ends', () => {
  assert.deepEqual(bucketsOverlapping(30_000, 60_000, 60_000), [0, 60_000]);
  assert.deepEqual(bucketsOverlapping(30_000, 59_999, 60_000), [0]);
  assert.deepEqual(bucketsOverlapping(60_000, 60_000, 60_000), [60_000]);
  assert.deepEqual(bucketsOverlapping(2, 1, 60_000), []);
});

test('cells: cellOf, regionOf, rollUpCell, isValidCell', () => {
  const c = cellOf(52.52, 13.405, 10);
  assert.equal(c, '8a1f1d48945ffff');
  assert.equal(regionOf(c, 5), '851f1d4bfffffff');
  assert.equal(regionOf(c), '851f1d4bfffffff');
  assert.equal(rollUpCell(c, 10), c);
  assert.equal(rollUpCell(c, 5), '851f1d4bfffffff');
  assert.throws(() => rollUpCell(regionOf(c), 10), RangeError);
  assert.equal(isValidCell(c), true);
  assert.equal(isValidCell('nope'), false);
  assert.equal(isValidCell(''), false);
});

test('topK orders by devices desc, then cell id asc', () => {
  const entries = [
    { cell: 'b', devices: 3 },
    { cell: 'a', devices: 3 },
    { cell: 'c', devices: 5 },
    { cell: 'd', devices: 1 },
  ];
  assert.deepEqual(
    topK(entries, 3).map((e) => e.cell),
    ['c', 'a', 'b'],
  );
  assert.deepEqual(topK(entries, 0), []);
  assert.equal(entries[0]?.cell, 'b', 'input not mutated');
});

test('mergeTopK unions per-region lists and re-ranks', () => {
  const r1 = [
    { cell: 'r1a', devices: 9 },
    { cell: 'r1b', devices: 4 },
  ];
  const r2 = [
    { cell: 'r2a', devices: 4 },
    { cell: 'r2b', devices: 2 },
  ];
  assert.deepEqual(
    mergeTopK([r1, r2], 3).map((e) => `${e.cell}:${e.devices}`),
    ['r1a:9', 'r1b:4', 'r2a:4'],
  );
});

test('kAnonymize suppresses counts below k', () => {
  assert.equal(kAnonymize(4), null);
  assert.equal(kAnonymize(5), 5);
  assert.equal(kAnonymize(2, 2), 2);
});

test('mergeOverlappingVisits and timeSpentMs', () => {
  const v = (start: number, end: number, cell = 'x') => ({
    deviceId: 'd',
    cell,
    startMs: start,
    endMs: end,
    pings: 1,
  });
  assert.deepEqual(
    mergeOverlappingVisits([v(50, 80), v(0, 10), v(5, 20), v(60, 70, 'y')]).map((m) => [
      m.cell,
      m.startMs,
      m.endMs,
      m.pings,
    ]),
    [
      ['x', 0, 20, 2],
      ['x', 50, 80, 1],
      ['y', 60, 70, 1],
    ],
  );
  // Overlapping visits count once; range is half-open and clips.
  assert.equal(timeSpentMs([v(0, 10), v(5, 20), v(50, 80)], 0, 100), 50);
  assert.equal(timeSpentMs([v(0, 10), v(5, 20), v(50, 80)], 8, 60), 22);
  assert.equal(timeSpentMs([v(0, 10)], 20, 30), 0);
});
