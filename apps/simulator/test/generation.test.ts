import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cellOf } from '@footfall/domain';
import { gridDisk, gridDistance } from 'h3-js';
import {
  ACCURACY_TO_SIGMA,
  createCity,
  distanceM,
  placeCells,
  planSimulation,
  timeline,
  type UploadBatch,
} from '../src/index.ts';

const END = 1_760_000_000_000;

function run(seed: number, devices: number, withTruth = false): UploadBatch[] {
  return [...timeline(planSimulation({ seed, devices, endMs: END, withTruth }))];
}

/** Distinct pings of each device in event-time order, with their truth (retries dropped). */
function byDevice(batches: readonly UploadBatch[]) {
  const out = new Map<
    string,
    { t: number; lat: number; lon: number; acc: number; truth: NonNullable<UploadBatch['truth']>[number] }[]
  >();
  for (const b of batches) {
    if (b.isRetry) continue;
    const list = out.get(b.deviceId) ?? [];
    b.pings.forEach((p, i) => {
      const truth = b.truth?.[i];
      assert.ok(truth);
      list.push({
        t: p.eventTimeMs,
        lat: p.latitude as number,
        lon: p.longitude as number,
        acc: p.accuracyM,
        truth,
      });
    });
    out.set(b.deviceId, list);
  }
  for (const list of out.values()) list.sort((a, b) => a.t - b.t);
  return out;
}

describe('city', () => {
  test('is deterministic and keeps places apart', () => {
    const a = createCity(42);
    assert.deepEqual(
      createCity(42).places.map((p) => [p.id, p.cell]),
      a.places.map((p) => [p.id, p.cell]),
    );
    assert.notDeepEqual(
      createCity(43).places.map((p) => p.cell),
      a.places.map((p) => p.cell),
    );
    const owner = new Map<string, string>();
    for (const p of a.places) {
      for (const c of placeCells(p)) {
        assert.equal(owner.get(c), undefined, `${c} belongs to ${owner.get(c)} and ${p.id}`);
        owner.set(c, p.id);
      }
    }
  });
});

describe('generation', () => {
  test('same seed → identical pings; another seed → different', () => {
    const a = run(7, 30);
    const b = run(7, 30);
    assert.ok(a.length > 100);
    assert.deepEqual(b, a);
    assert.notDeepEqual(
      run(8, 30).map((x) => x.pings[0]),
      a.map((x) => x.pings[0]),
    );
  });

  test('a device does not depend on how many other devices there are', () => {
    const small = run(3, 5).filter((b) => b.deviceIndex === 2);
    const big = run(3, 40).filter((b) => b.deviceIndex === 2);
    assert.deepEqual(big, small);
  });

  const batches = run(11, 150, true);
  const plan = planSimulation({ seed: 11, devices: 150, endMs: END });

  test('uploads come in upload-time order, never before their pings, inside the window', () => {
    let last = Number.NEGATIVE_INFINITY;
    for (const b of batches) {
      assert.ok(b.uploadAtMs >= last);
      last = b.uploadAtMs;
      assert.ok(b.pings.length >= 1 && b.pings.length <= 500);
      for (const p of b.pings) {
        assert.ok(p.eventTimeMs <= b.uploadAtMs);
        assert.ok(p.eventTimeMs >= plan.fromMs && p.eventTimeMs <= plan.toMs);
        assert.match(p.pingId, /^[A-Za-z0-9_-]{16,64}$/);
      }
    }
  });

  test('true movement respects speeds (no teleporting) and fixes stay within the noise', () => {
    for (const list of byDevice(batches).values()) {
      for (let i = 1; i < list.length; i++) {
        const a = list[i - 1];
        const b = list[i];
        assert.ok(a && b);
        const dt = (b.t - a.t) / 1000;
        const d = distanceM(a.truth, b.truth);
        // Train 12 m/s is the fastest mode; +1 m for stays (spots are fixed within a place).
        assert.ok(d <= 12 * dt * 1.001 + 1, `moved ${d.toFixed(0)} m in ${dt.toFixed(1)} s`);
      }
      for (const p of list) {
        assert.ok(p.acc >= 5 && p.acc <= 200);
        // 2D gaussian: beyond 6 sigma has probability ~1.5e-8.
        assert.ok(distanceM(p, p.truth) <= 6 * p.acc * ACCURACY_TO_SIGMA + 0.5);
      }
    }
  });

  test('ping intervals: 5–15 s while moving, 1–5 min while still (rare long gaps)', () => {
    const moving: number[] = [];
    const still: number[] = [];
    for (const list of byDevice(batches).values()) {
      for (let i = 1; i < list.length; i++) {
        const a = list[i - 1];
        const b = list[i];
        assert.ok(a && b);
        const gap = b.t - a.t;
        if (a.truth.moving && b.truth.moving) moving.push(gap);
        if (!a.truth.moving && !b.truth.moving && a.truth.placeId === b.truth.placeId) still.push(gap);
      }
    }
    assert.ok(moving.length > 1000 && still.length > 1000);
    for (const g of moving) assert.ok(g >= 4_999 && g <= 15_001, `moving gap ${g}`);
    for (const g of still) assert.ok(g >= 999 && g <= 15 * 60_000 + 1, `still gap ${g}`);
    const long = still.filter((g) => g > 5 * 60_000).length / still.length;
    assert.ok(long > 0 && long < 0.05, `long stationary gaps ${long}`);
    const normal = still.filter((g) => g >= 60_000 && g <= 300_000).length / still.length;
    assert.ok(normal > 0.85, `1–5 min gaps ${normal}`);
  });

  test('offline devices upload their buffer late, in one go, after newer pings of others', () => {
    const late = batches.filter((b) => b.late && !b.isRetry);
    assert.ok(late.length > 0);
    let sawOlderThanNewest = false;
    let newest = Number.NEGATIVE_INFINITY;
    for (const b of batches) {
      const oldest = Math.min(...b.pings.map((p) => p.eventTimeMs));
      if (b.late && !b.isRetry) {
        assert.ok(b.uploadAtMs - oldest >= 10 * 60_000 - 1, 'buffered at least 10 min');
        if (oldest < newest - 5 * 60_000) sawOlderThanNewest = true;
      }
      for (const p of b.pings) newest = Math.max(newest, p.eventTimeMs);
    }
    assert.ok(sawOlderThanNewest, 'late batches arrive after newer pings');
  });

  test('retries repeat an earlier upload with the same ping ids', () => {
    const first = new Map<string, UploadBatch>();
    let retries = 0;
    for (const b of batches) {
      const key = `${b.deviceId}/${b.seq}`;
      if (!b.isRetry) {
        assert.equal(first.has(key), false);
        first.set(key, b);
        continue;
      }
      retries++;
      const orig = first.get(key);
      assert.ok(orig, 'retry after its original');
      assert.deepEqual(
        b.pings.map((p) => p.pingId),
        orig.pings.map((p) => p.pingId),
      );
      assert.ok(b.uploadAtMs > orig.uploadAtMs);
    }
    assert.ok(retries > 0);
    const ids = new Set<string>();
    for (const b of first.values()) for (const p of b.pings) ids.add(`${b.deviceId}/${p.pingId}`);
    const total = [...first.values()].reduce((n, b) => n + b.pings.length, 0);
    assert.equal(ids.size, total, 'ping ids are unique per device');
  });

  test('stays are inside their place cells; event attendees reach the stadium', () => {
    const city = plan.city;
    let atStadium = 0;
    for (let i = 0; i < 150; i++) {
      const d = plan.device(i);
      for (const s of d.segments) {
        if (s.kind !== 'stay') continue;
        const place = city.byId.get(s.placeId);
        assert.ok(place);
        const cell = cellOf(s.lat, s.lon, 10);
        assert.ok(gridDisk(place.cell, place.ring).includes(cell), `${s.placeId} spot outside its cells`);
        if (
          place.kind === 'stadium' &&
          plan.event &&
          s.startMs <= plan.event.startMs &&
          s.endMs >= plan.event.endMs
        ) {
          atStadium++;
        }
      }
      assert.ok(d.segments.length > 0);
    }
    assert.ok(atStadium >= 5, `attendees ${atStadium}`);
    assert.ok(gridDistance(city.byKind.stadium[0]?.cell ?? '', city.byKind.station[0]?.cell ?? '') >= 4);
  });
});
