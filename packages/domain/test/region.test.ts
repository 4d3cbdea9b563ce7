import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withSeed } from '@footfall/testing';
import { cellToChildren, getResolution } from 'h3-js';
import { cellOf, regionOf } from '../src/index.ts';

test('cell → region round-trips: the region contains the cell and is its own region (seeded)', async (t) => {
  await withSeed(t, (random) => {
    for (let i = 0; i < 300; i++) {
      const lat = (random() - 0.5) * 170;
      const lon = (random() - 0.5) * 360;
      const cellRes = 6 + Math.floor(random() * 6); // 6..11
      const regionRes = Math.floor(random() * cellRes); // coarser than the cell
      const cell = cellOf(lat, lon, cellRes);
      const region = regionOf(cell, regionRes);
      assert.equal(getResolution(region), regionRes, `${cell} at ${regionRes}`);
      // Containment by H3's own child enumeration (bounded: at most 7³ children).
      if (cellRes - regionRes <= 3) {
        assert.ok(cellToChildren(region, cellRes).includes(cell), `${region} contains ${cell}`);
      }
      assert.equal(regionOf(region, regionRes), region, 'a region is its own region');
      // A cell at or coarser than the region resolution is its own region (ingest keys it so, too).
      assert.equal(regionOf(cell, cellRes), cell);
      assert.equal(regionOf(cell, 15), cell);
    }
  });
});
