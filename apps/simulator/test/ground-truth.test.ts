import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Activity, type Ping } from '@footfall/contracts';
import { cellOf } from '@footfall/domain';
import { cellToLatLng, gridDisk } from 'h3-js';
import {
  type City,
  GroundTruth,
  InMemoryUploader,
  type Place,
  runSimulation,
  type SimDevice,
} from '../src/index.ts';

const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
const MIN = 60_000;
const at = (m: number, s = 0) => T0 + m * MIN + s * 1000;

const X = cellOf(38.72, -9.14, 10);
const X2 = gridDisk(X, 1).find((c) => c !== X) as string; // X' (a neighbour)
const Y = gridDisk(X, 10).at(-1) as string; // far away

function place(id: string, kind: Place['kind'], cell: string): Place {
  const [lat, lon] = cellToLatLng(cell);
  return { id, kind, name: id, lat, lon, cell, radiusM: 10, ring: 0, capacity: 50, popularity: 1 };
}

const cafe = place('cafe-0', 'cafe', X);
const office = place('office-0', 'office', Y);
const city: City = {
  seed: 'hand',
  center: { lat: 38.72, lon: -9.14 },
  radiusM: 3000,
  cellResolution: 10,
  places: [cafe, office],
  byId: new Map([
    [cafe.id, cafe],
    [office.id, office],
  ]),
  byKind: {
    cafe: [cafe],
    office: [office],
    home: [],
    station: [],
    stadium: [],
    park: [],
    mall: [],
    market: [],
  },
};

function stayDevice(id: string, stays: [Place, number, number][]): SimDevice {
  return {
    id,
    index: 0,
    profile: { persona: 'leisure', home: cafe, office: null, cafes: [], hasCar: false, attendsEvent: false },
    segments: stays.map(([p, s, e]) => ({
      kind: 'stay',
      placeId: p.id,
      lat: p.lat,
      lon: p.lon,
      startMs: s,
      endMs: e,
    })),
  };
}

let n = 0;
function ping(cell: string, t: number, id = `hand-ping-${String(n++).padStart(8, '0')}`): Ping {
  const [latitude, longitude] = cellToLatLng(cell);
  return {
    pingId: id,
    eventTimeMs: t,
    latitude,
    longitude,
    accuracyM: 10,
    activity: Activity.ACTIVITY_STILL,
  };
}

describe('ground truth on the worked example of docs/insights.md', () => {
  test('physical truth: occupancy per place and bucket, time spent', () => {
    const gt = new GroundTruth(city, { fromMs: T0, toMs: at(60) });
    gt.addDevice(stayDevice('A', [[cafe, at(0, 10), at(6)]]));
    gt.addDevice(stayDevice('B', [[cafe, at(1), at(20)]]));
    gt.addDevice(stayDevice('C', [[office, at(3, 20), at(4, 50)]]));
    // Before the window: clipped away.
    gt.addDevice(stayDevice('D', [[cafe, at(-30), at(-10)]]));
    assert.equal(gt.truthPlaceOccupancy(cafe.id, at(0)), 1);
    assert.equal(gt.truthPlaceOccupancy(cafe.id, at(1)), 2);
    assert.equal(gt.truthPlaceOccupancy(cafe.id, at(6)), 2);
    assert.equal(gt.truthPlaceOccupancy(cafe.id, at(7)), 1);
    assert.equal(gt.truthPlaceOccupancy(cafe.id, at(20)), 1);
    assert.equal(gt.truthPlaceOccupancy(cafe.id, at(21)), 0);
    assert.equal(gt.truthPlaceOccupancy(office.id, at(3)), 1);
    assert.equal(gt.truthPlaceOccupancy(office.id, at(4)), 1);
    assert.equal(gt.truthPlaceOccupancy(office.id, at(5)), 0);
    assert.equal(gt.truthTimeSpent('A', cafe.id), 5 * MIN + 50_000);
    assert.equal(gt.truthTimeSpent('B', cafe.id, at(10), at(15)), 5 * MIN);
    assert.equal(gt.truthTimeSpent('D', cafe.id), 0);
    assert.equal(gt.truthPeaks()[0]?.place.id, cafe.id);
    assert.equal(gt.truthPeaks()[0]?.peak, 2);
  });

  test('exact expectation: the domain aggregation over the accepted pings', () => {
    const gt = new GroundTruth(city, { fromMs: T0, toMs: at(60) });
    const a1 = ping(X, at(0, 10));
    gt.addAccepted('A', [a1, ping(X2, at(2, 30)), ping(X, at(6))]);
    gt.addAccepted('B', [ping(X, at(1)), ping(X, at(20))]);
    gt.addAccepted('C', [ping(Y, at(3, 20)), ping(Y, at(3, 40)), ping(Y, at(4, 50))]);
    gt.addAccepted('A', [a1]); // a retried upload
    assert.deepEqual(gt.counts, { accepted: 8, duplicate: 1, late: 0, inaccurate: 0 });
    const occ = (c: string, m: number) => gt.expectedOccupancy(c, at(m));
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 7, 20].map((m) => occ(X, m)),
      [1, 2, 1, 1, 1, 1, 1, 0, 1],
    );
    assert.equal(occ(X2, 2), 0);
    assert.deepEqual(
      [2, 3, 4, 5].map((m) => occ(Y, m)),
      [0, 1, 1, 0],
    );
    assert.deepEqual(gt.expectedTopK(at(1), 1), [{ cell: X, devices: 2 }]);
    const tie = gt.expectedTopK(at(3), 2);
    assert.deepEqual(
      tie.map((e) => e.cell),
      [X, Y].sort(),
    );
    assert.deepEqual(
      gt.expectedVisits().map((v) => [v.deviceId, v.cell, v.startMs, v.endMs, v.pings]),
      [['A', X, at(0, 10), at(6), 3]],
    );
    assert.equal(gt.expectedTimeSpent('A', X, T0, at(60)), 5 * MIN + 50_000);
    assert.equal(gt.expectedTimeSpent('A', X, at(3), at(4)), MIN);
    assert.equal(gt.expectedTimeSpent('B', X, T0, at(60)), 0);

    // B's late ping at 12:10 joins its pings into one stay (gaps 9 and 10 min).
    gt.addAccepted('B', [ping(X, at(10))]);
    assert.deepEqual(
      [1, 2, 6, 7, 15, 20].map((m) => occ(X, m)),
      [2, 2, 2, 1, 1, 1],
    );
    assert.equal(gt.expectedTimeSpent('B', X, T0, at(60)), 19 * MIN);
    // Measured over a place: its cells (ring 0 + jitter ring 1) summed.
    const answers = gt.expectedAnswers();
    assert.equal(answers.timeSpent('A', gridDisk(X, 1), T0, at(60)), 5 * MIN + 50_000);
  });
});

describe('runSimulation', () => {
  test('feeds only accepted pings to the exact expectation and reports accuracy against truth', async () => {
    const uploader = new InMemoryUploader({
      reject: (_d, p) => (p.pingId.endsWith('7') ? 'TEST' : undefined),
    });
    const progress: unknown[] = [];
    const { stats, truth, plan } = await runSimulation({
      uploader,
      seed: 5,
      devices: 300,
      endMs: Date.UTC(2025, 0, 15, 18),
      concurrency: 8,
      onProgress: (p) => progress.push(p),
    });
    assert.ok(progress.length >= 1);
    assert.equal(stats.failedBatches, 0);
    assert.equal(stats.pingsUploaded, uploader.pings);
    assert.ok(stats.pingsRejected > 0 && stats.rejectReasons.TEST === stats.pingsRejected);
    const c = truth.counts;
    assert.equal(c.accepted + c.duplicate + c.late + c.inaccurate, stats.pingsAccepted);
    assert.equal(c.late, 0, 'late uploads stay within the allowed lateness');
    assert.ok(c.duplicate > 0, 'retries are deduplicated');
    // Every accepted ping is in the window; occupancy exists; top-K is ranked.
    const buckets = truth.expectedBuckets();
    assert.ok(buckets.length > 100 && (buckets[0] as number) >= plan.fromMs - MIN);
    const top = truth.expectedTopK(buckets[60] as number, 5);
    for (let i = 1; i < top.length; i++) assert.ok((top[i - 1]?.devices ?? 0) >= (top[i]?.devices ?? 0));
    const report = truth.compare();
    assert.ok(report.occupancy.samples > 100 && report.timeSpent.samples > 50);
    assert.equal(report.passes, true, JSON.stringify(report));
  });
});
