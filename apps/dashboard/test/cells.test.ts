// The map's cell geometry: GeoJSON order and the antimeridian (a regression here draws a band around
// the globe, which no browser test would notice).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cellToBoundary, latLngToCell } from 'h3-js';
import { cellRing } from '../web/cells.ts';

test('a cell ring is [lng, lat], closed, around the cell centre', () => {
  const cell = latLngToCell(52.52, 13.405, 10); // Berlin: lng ≈ 13, lat ≈ 52
  const ring = cellRing(cell);
  assert.deepEqual(ring[0], ring.at(-1));
  for (const [lng, lat] of ring) {
    assert.ok(Math.abs(lng - 13.405) < 0.01, `lng ${lng}`);
    assert.ok(Math.abs(lat - 52.52) < 0.01, `lat ${lat}`);
  }
});

test('a cell crossing the antimeridian stays narrow', () => {
  // Resolution 2 cells are ~150 km wide: one at 180° straddles it.
  const cell = latLngToCell(0, 179.99, 2);
  const lngs = cellToBoundary180(cell);
  assert.ok(Math.max(...lngs) - Math.min(...lngs) > 180, 'the raw boundary does wrap (test premise)');
  const ring = cellRing(cell).map(([lng]) => lng);
  assert.ok(Math.max(...ring) - Math.min(...ring) < 10, `span ${Math.max(...ring) - Math.min(...ring)}`);
  // East of +180 rather than west of −180: the shifted side is the western one.
  assert.ok(Math.min(...ring) > 170, `min ${Math.min(...ring)}`);
});

test('cells away from the antimeridian are untouched', () => {
  const cell = latLngToCell(-33.87, 151.21, 9);
  assert.deepEqual(
    cellRing(cell),
    cellToBoundary(cell, true).map(([lng, lat]) => [lng, lat]),
  );
});

function cellToBoundary180(cell: string): number[] {
  return cellToBoundary(cell, true).map(([lng]) => lng as number);
}
