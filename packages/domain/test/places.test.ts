import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cellToBoundary, cellToLatLng, gridDisk, latLngToCell } from 'h3-js';
import {
  dwellSummary,
  PartitionAggregator,
  type PlaceDef,
  PlaceGeometryError,
  PlaceIndex,
  type PlaceOccupancyUpdate,
  PlaceTracker,
  placeCells,
  placeVisits,
  validatePlaceGeometry,
} from '../src/index.ts';
import { MIN, ping, SEC, T0, X, Y, Z } from './helpers.ts';

const ring = (coords: [number, number][]) => [...coords, coords[0] as [number, number]];
/** GeoJSON polygon ([lon, lat]) of a cell's hexagon, slightly enlarged around its centre. */
function hexPolygon(cell: string, scale = 1.05) {
  const [clat, clon] = cellToLatLng(cell);
  const pts = cellToBoundary(cell).map(
    ([lat, lon]) => [clon + (lon - clon) * scale, clat + (lat - clat) * scale] as [number, number],
  );
  return { type: 'Polygon', coordinates: [ring(pts)] };
}

function refusal(fn: () => unknown): PlaceGeometryError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof PlaceGeometryError, String(error));
    return error;
  }
  assert.fail('expected a PlaceGeometryError');
}

test('geometry validation: the reason for each refusal', () => {
  const kind = (g: unknown) => refusal(() => validatePlaceGeometry(g));
  assert.match(kind({ type: 'Point', coordinates: [0, 0] }).message, /Polygon/);
  assert.match(kind({ type: 'Polygon', coordinates: [] }).message, /non-empty/);
  const unclosed = kind({
    type: 'Polygon',
    coordinates: [
      [
        [0, 0],
        [1, 0],
        [1, 1],
        [0, 1],
      ],
    ],
  });
  assert.equal(unclosed.kind, 'invalid');
  assert.match(unclosed.message, /4 positions|unclosed/);
  assert.match(
    kind({
      type: 'Polygon',
      coordinates: [
        [
          [0, 0],
          [1, 0],
          [1, 1],
          [0, 1],
          [0, 0.5],
        ],
      ],
    }).message,
    /unclosed ring/,
  );
  assert.match(
    kind({
      type: 'Polygon',
      coordinates: [
        ring([
          [0, 0],
          [1, 0],
          [1, 200],
        ]),
      ],
    }).message,
    /latitude/,
  );
  // A bow tie crosses itself.
  const bowtie = kind({
    type: 'Polygon',
    coordinates: [
      ring([
        [0, 0],
        [1, 1],
        [1, 0],
        [0, 1],
      ]),
    ],
  });
  assert.equal(bowtie.kind, 'invalid');
  assert.match(bowtie.message, /self-intersecting/);
  // A valid MultiPolygon passes and comes back as given.
  const ok = { type: 'MultiPolygon', coordinates: [hexPolygon(X).coordinates, hexPolygon(Y).coordinates] };
  assert.deepEqual(validatePlaceGeometry(ok), ok);
});

test('mapping: a cell belongs to a place iff its centre is inside; size and region limits', () => {
  // A hexagon slightly larger than X contains X's centre and no neighbour's.
  const g = validatePlaceGeometry(hexPolygon(X));
  assert.deepEqual(placeCells(g, 10, 5, 100).cells, [X]);
  // The hexagon of the res-9 parent-sized area: 1.0 scale of a res-9 cell maps to ~7 res-10 cells.
  const big = validatePlaceGeometry(hexPolygon(latLngToCell(52.52, 13.405, 9), 1.0));
  const { cells, region } = placeCells(big, 10, 5, 100);
  assert.ok(cells.length >= 6 && cells.length <= 9, `got ${cells.length}`);
  assert.deepEqual(cells, [...cells].sort());
  assert.equal(region, latLngToCell(52.52, 13.405, 5));
  // Every mapped cell's centre is within the polygon's bounding box (centre containment).
  for (const c of cells) {
    const [lat, lon] = cellToLatLng(c);
    assert.ok(Math.abs(lat - 52.52) < 0.01 && Math.abs(lon - 13.405) < 0.02);
  }
  assert.equal(refusal(() => placeCells(big, 10, 5, 3)).kind, 'too-large');
  // A huge polygon is refused before it is mapped.
  const country = validatePlaceGeometry({
    type: 'Polygon',
    coordinates: [
      ring([
        [5, 47],
        [15, 47],
        [15, 55],
        [5, 55],
      ]),
    ],
  });
  assert.equal(refusal(() => placeCells(country, 10, 5, 10_000)).kind, 'too-large');
  // Smaller than a cell and off its centre: no cell.
  const [clat, clon] = cellToLatLng(X);
  const tiny = validatePlaceGeometry({
    type: 'Polygon',
    coordinates: [
      ring([
        [clon + 0.0003, clat],
        [clon + 0.0004, clat],
        [clon + 0.0004, clat + 0.0001],
      ]),
    ],
  });
  assert.equal(refusal(() => placeCells(tiny, 10, 5, 100)).kind, 'empty');
  // Two cells far apart in different regions.
  const far = latLngToCell(48.85, 2.35, 10);
  const two = validatePlaceGeometry({
    type: 'MultiPolygon',
    coordinates: [hexPolygon(X).coordinates, hexPolygon(far).coordinates],
  });
  assert.equal(refusal(() => placeCells(two, 10, 5, 100)).kind, 'multi-region');
});

const def = (id: string, cells: string[], version = 1, effectiveFromMs = 0): PlaceDef => ({
  id,
  version,
  cells,
  effectiveFromMs,
  region: 'r',
});

/** Latest value per (place, bucket), as the sink holds it. */
function collect(
  view: Map<string, number>,
  updates: PlaceOccupancyUpdate[] | undefined,
): Map<string, number> {
  for (const u of updates ?? []) view.set(`${u.placeId}|${u.bucketStartMs}`, u.devices);
  return view;
}

test('a device in two cells of one place in one bucket counts once', () => {
  const index = new PlaceIndex();
  index.upsert(def('station', [X, Z]));
  const agg = new PartitionAggregator();
  agg.observePlaces(new PlaceTracker(index, agg));
  // A: X then Z (2 rings away: a new stay, so present in both cells) within one bucket. B: X only.
  agg.add(ping('A', T0 + 10 * SEC, X));
  agg.add(ping('A', T0 + 40 * SEC, Z));
  agg.add(ping('B', T0 + 20 * SEC, X));
  const u = agg.drainUpdates();
  const cellSum = u.occupancy.filter((o) => o.bucketStartMs === T0).reduce((s, o) => s + o.devices, 0);
  assert.equal(cellSum, 3, 'cells count A twice');
  const view = collect(new Map(), u.places);
  assert.deepEqual([...view], [[`station|${T0}`, 2]]);
});

/** Seeded LCG: deterministic random pings. */
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('place counts equal the union of the cells device sets (random, out of order, definitions mid-stream)', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const random = lcg(seed);
    const cells = gridDisk(X, 3);
    const index = new PlaceIndex();
    index.upsert(def('a', cells.slice(0, 10)));
    const agg = new PartitionAggregator({ allowedLatenessMs: 30 * MIN });
    const tracker = new PlaceTracker(index, agg);
    agg.observePlaces(tracker);
    const view = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const t = T0 + Math.floor(random() * 40 * MIN);
      const cell = cells[Math.floor(random() * cells.length)] as string;
      agg.add(ping(`d${Math.floor(random() * 40)}`, t, cell));
      if (i % 300 === 0) index.upsert(def('b', cells.slice(i % 7, 25), i + 1, T0 + 10 * MIN));
      if (i === 2000) index.upsert(def('a', cells.slice(3, 12), 2, T0 + 20 * MIN));
      if (i === 2500) index.upsert(def('c', [Y]));
      if (i === 2600) index.remove('c');
      if (i % 97 === 0) collect(view, agg.drainUpdates().places);
    }
    collect(view, agg.drainUpdates().places);
    for (const b of agg.openBucketStarts()) {
      for (const p of index.values()) {
        if (b < p.effectiveFromMs) continue;
        const union = new Set<number>();
        for (const c of p.cells) for (const d of agg.presentIn(c, b)?.keys() ?? []) union.add(d);
        assert.equal(tracker.devicesAt(p.id, b) ?? 0, union.size, `seed ${seed} place ${p.id} bucket ${b}`);
        assert.equal(view.get(`${p.id}|${b}`) ?? 0, union.size, `seed ${seed}: emitted ${p.id} ${b}`);
      }
    }
    assert.ok(![...view.keys()].some((k) => k.startsWith('c|')), 'a deleted place emits nothing');
  }
});

test('a place defined later counts from its effective time, from the open state', () => {
  const index = new PlaceIndex();
  const agg = new PartitionAggregator();
  agg.observePlaces(new PlaceTracker(index, agg));
  agg.add(ping('A', T0 + 10 * SEC, X));
  agg.add(ping('A', T0 + 1 * MIN + 10 * SEC, X));
  agg.add(ping('B', T0 + 1 * MIN + 20 * SEC, Z));
  assert.equal(agg.drainUpdates().places?.length, 0);
  index.upsert(def('p', [X, Z], 1, T0 + MIN));
  const view = collect(new Map(), agg.drainUpdates().places);
  assert.deepEqual([...view], [[`p|${T0 + MIN}`, 2]], 'the bucket before the effective time is not counted');
  // An older version is ignored.
  assert.equal(index.upsert(def('p', [X], 1)), false);
});

test('place visits merge across cells within the gap; dwell buckets, median, visitors per hour', () => {
  const H = 3_600_000;
  const day = Date.UTC(2025, 0, 1);
  const merged = placeVisits(
    [
      { deviceId: 'a', startMs: day + 9 * H, endMs: day + 9 * H + 10 * MIN },
      // 5 minutes later in another cell of the place: the same visit.
      { deviceId: 'a', startMs: day + 9 * H + 15 * MIN, endMs: day + 9 * H + 30 * MIN },
      // 2 h later: a new visit.
      { deviceId: 'a', startMs: day + 12 * H, endMs: day + 17 * H },
      { deviceId: 'b', startMs: day + 10 * H, endMs: day + 10 * H + 45 * MIN },
    ],
    10 * MIN,
  );
  assert.equal(merged.length, 3);
  const s = dwellSummary(merged, day);
  assert.equal(s.visits, 3);
  assert.equal(s.visitors, 2);
  assert.deepEqual(s.buckets, [0, 0, 2, 0, 1]);
  assert.equal(s.medianMs, 45 * MIN);
  assert.equal(s.visitorsPerHour[9], 1);
  assert.equal(s.visitorsPerHour[10], 1);
  assert.equal(s.visitorsPerHour[11], 0);
  assert.equal(s.visitorsPerHour[17], 1);
  assert.equal(
    s.visitorsPerHour.reduce((a, b) => a + b, 0),
    1 + 1 + 6,
  );
});
