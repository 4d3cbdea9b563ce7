// Weekly routines (issue 17): where devices truly are at a few hours of a weekday and of a Saturday.
// Offices fill on weekday mornings and empty at weekends; parks, the market and the mall are busier at
// weekends; at night everyone is home. Deterministic by seed (no wall clock: fixed windows).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createCity,
  localClock,
  localOffsetFor,
  type PlaceKind,
  planSimulation,
  positionAt,
} from '../src/index.ts';

const HOUR = 3_600_000;
/** Wednesday 2026-11-25 00:00 UTC and Saturday 2026-11-28 00:00 UTC. */
const WEDNESDAY = Date.UTC(2026, 10, 25);
const SATURDAY = Date.UTC(2026, 10, 28);
const SEED = 17;

/** Devices truly staying at each kind of place at `tMs`. */
function where(dayMs: number, hour: number, localOffsetMs = 0): Record<string, number> {
  const t = dayMs + hour * HOUR - localOffsetMs;
  const plan = planSimulation({
    seed: SEED,
    devices: 400,
    startMs: t - HOUR,
    durationMs: 2 * HOUR,
    event: null,
    schedule: { localOffsetMs },
  });
  const out: Record<string, number> = {};
  for (let i = 0; i < plan.deviceCount; i++) {
    const pos = positionAt(plan.device(i).segments, t);
    const kind: PlaceKind | 'moving' =
      pos.placeId === null ? 'moving' : (plan.city.byId.get(pos.placeId)?.kind ?? 'moving');
    out[kind] = (out[kind] ?? 0) + 1;
  }
  return out;
}

test('local clock: Monday is day 0, weekends are Saturday and Sunday, the offset shifts the hour', () => {
  assert.equal(localClock(WEDNESDAY + 10 * HOUR, 0).weekend, false);
  assert.equal(localClock(SATURDAY + 10 * HOUR, 0).weekend, true);
  assert.equal(localClock(SATURDAY - HOUR, 0).weekend, false);
  assert.equal(localClock(SATURDAY - HOUR, 2 * HOUR).weekend, true);
  assert.equal(localClock(WEDNESDAY + 10 * HOUR, 2 * HOUR).hour, 12);
  // Pinning: any start becomes Wednesday 16:30 local.
  for (const start of [SATURDAY + 3 * HOUR, WEDNESDAY - 7_777_777, 1_800_000_123_456]) {
    const c = localClock(start, localOffsetFor(start));
    assert.equal(c.hour, 16.5);
    assert.equal(localClock(start, localOffsetFor(start)).weekend, false);
    assert.equal(localClock(start + 2.5 * 24 * HOUR, localOffsetFor(start)).weekend, true);
  }
});

test('weekday vs weekend routines give popular times a shape', () => {
  const wedMorning = where(WEDNESDAY, 10.5);
  const satMorning = where(SATURDAY, 10.5);
  const wedNight = where(WEDNESDAY, 3);
  const at = (m: Record<string, number>, ...kinds: string[]) => kinds.reduce((n, k) => n + (m[k] ?? 0), 0);
  const msg = JSON.stringify({ wedMorning, satMorning, wedNight, seed: SEED });
  // Commuters (65 %) are at work on a weekday morning; nobody is at weekends.
  assert.ok(at(wedMorning, 'office') > 0.5 * 400, msg);
  assert.equal(at(satMorning, 'office'), 0, msg);
  // Parks, markets and the mall are weekend places.
  assert.ok(at(satMorning, 'park', 'market', 'mall') > 2 * at(wedMorning, 'park', 'market', 'mall'), msg);
  assert.ok(at(satMorning, 'market') > 0, msg);
  // At 3 am everyone is home.
  assert.equal(at(wedNight, 'home'), 400, msg);
  // The offset moves the routine: 10:30 local on Wednesday with local = UTC + 5 h is 05:30 UTC.
  assert.deepEqual(where(WEDNESDAY, 10.5, 5 * HOUR), wedMorning);
});

test('the city has the named places of the issue', () => {
  const city = createCity(SEED);
  for (const kind of ['station', 'mall', 'park', 'office', 'stadium', 'market'] as const)
    assert.ok(city.byKind[kind].length > 0, kind);
});
