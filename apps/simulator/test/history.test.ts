// The sampled history `npm start` uploads for popular times (docs/simulator.md, "History"): in
// event-time order with no ping later than the processor's lateness, every hour of the week sampled,
// offices empty at weekends, and deterministic by seed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backfillHistory, createCity, InMemoryUploader, localClock } from '../src/index.ts';

const HOUR = 3_600_000;
/** A Monday, 00:00 UTC: one week of history before it. */
const END = Date.UTC(2026, 10, 30);
const LATENESS_MS = HOUR;

async function history(seed: string) {
  const uploader = new InMemoryUploader();
  const city = createCity(seed);
  const result = await backfillHistory({ uploader, devices: 120, seed, city, weeks: 1, endMs: END });
  return { uploader, city, result };
}

test('history: one week, in order within the lateness, every hour sampled, weekly shape, by seed', async () => {
  const seed = 'history-1';
  const { uploader, city, result } = await history(seed);
  assert.equal(result.hours, 168);
  assert.equal(result.fromMs, END - 168 * HOUR);
  assert.equal(result.failedBatches, 0);
  let maxEvent = Number.NEGATIVE_INFINITY;
  const hours = new Set<number>();
  let weekendOffice = 0;
  let weekdayOffice = 0;
  for (const u of uploader.uploads) {
    for (const p of u.pings) {
      assert.ok(p.eventTimeMs >= result.fromMs && p.eventTimeMs < result.toMs, `seed ${seed}`);
      // What the processor's watermark would be: nothing behind it by more than the lateness.
      assert.ok(p.eventTimeMs >= maxEvent - LATENESS_MS, `late ping, seed ${seed}`);
      hours.add(Math.floor(p.eventTimeMs / HOUR));
    }
    for (const p of u.pings) maxEvent = Math.max(maxEvent, p.eventTimeMs);
    // Within ~20 m of an office's centre: a coarse check of the routine.
    for (const p of u.pings) {
      const office = city.byKind.office.some(
        (o) => Math.abs(o.lat - (p.latitude ?? 0)) < 0.0002 && Math.abs(o.lon - (p.longitude ?? 0)) < 0.0002,
      );
      if (!office) continue;
      if (localClock(p.eventTimeMs, 0).weekend) weekendOffice++;
      else weekdayOffice++;
    }
  }
  // Daytime hours all sampled (at night everyone is home: no uploads, by design).
  for (let h = result.fromMs; h < result.toMs; h += HOUR) {
    const c = localClock(h, 0);
    if (c.hour >= 10 && c.hour < 20) assert.ok(hours.has(h / HOUR), `hour ${new Date(h).toISOString()}`);
  }
  assert.ok(weekdayOffice > 100, `weekday office pings ${weekdayOffice}`);
  // Nobody works at weekends: only passers-by come that close to an office.
  assert.ok(weekendOffice * 50 < weekdayOffice, `weekend ${weekendOffice}, weekday ${weekdayOffice}`);
  const again = await history(seed);
  assert.deepEqual(
    again.uploader.uploads.map((u) => u.pings.map((p) => p.pingId)),
    uploader.uploads.map((u) => u.pings.map((p) => p.pingId)),
  );
  // Ping ids never repeat across the hourly runs (the pipeline would drop repeats as duplicates).
  const ids = uploader.uploads.flatMap((u) => u.pings.map((p) => p.pingId));
  assert.equal(new Set(ids).size, ids.length);
});
