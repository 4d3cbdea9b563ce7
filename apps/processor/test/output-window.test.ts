// A processor generation's share of event time (OUTPUT_FROM_MS / OUTPUT_UNTIL_MS, docs/operations.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@footfall/config';
import { PartitionAggregator } from '@footfall/domain';
import { loadProcessorConfig } from '../src/config.ts';
import { OutputWindow } from '../src/output-window.ts';

const MIN = 60_000;
const C = Date.UTC(2026, 0, 1, 12, 0, 0);

test('the old generation keeps what starts before C, the new one the rest; unbounded keeps all', () => {
  const updates = {
    occupancy: [C - MIN, C, C + MIN].map((b) => ({
      cell: 'c',
      region: 'r',
      bucketStartMs: b,
      devices: 1,
      pings: 1,
    })),
    visits: [C - 1, C].map((s) => ({
      deviceId: 'd',
      cell: 'c',
      region: 'r',
      startMs: s,
      endMs: s + 10 * MIN,
      pings: 3,
      closed: false,
      retracted: false,
    })),
    places: [C - MIN, C].map((b) => ({
      placeId: 'p',
      region: 'r',
      bucketStartMs: b,
      devices: 2,
      version: 1,
    })),
  };
  const old = new OutputWindow(0, C).filter(updates);
  assert.deepEqual(
    old.places?.map((p) => p.bucketStartMs),
    [C - MIN],
  );
  assert.deepEqual(
    new OutputWindow(C, 0).filter(updates).places?.map((p) => p.bucketStartMs),
    [C],
  );
  assert.deepEqual(
    old.occupancy.map((o) => o.bucketStartMs),
    [C - MIN],
  );
  assert.deepEqual(
    old.visits.map((v) => v.startMs),
    [C - 1],
  );
  const next = new OutputWindow(C, 0).filter(updates);
  assert.deepEqual(
    next.occupancy.map((o) => o.bucketStartMs),
    [C, C + MIN],
  );
  assert.deepEqual(
    next.visits.map((v) => v.startMs),
    [C],
  );
  assert.equal(new OutputWindow(0, 0).filter(updates), updates);
});

test('drained only with an upper bound, once nothing before it can change', () => {
  const agg = new PartitionAggregator({ allowedLatenessMs: 5 * MIN, presenceMaxGapMs: 5 * MIN });
  const window = new OutputWindow(0, C);
  assert.equal(window.drained(agg), true, 'a partition that never saw a ping holds nothing');
  let n = 0;
  const add = (t: number, cell: string) =>
    agg.add({ deviceId: 'd', pingId: `p${n++}`, eventTimeMs: t, cell, accuracyM: 5 });
  add(C - 10 * MIN, '8a1f1d4a8b2ffff');
  add(C + 2 * MIN, '8a1f1d4a8b2ffff');
  agg.drainUpdates();
  assert.equal(window.drained(agg), false, 'a stay spanning C is open');
  add(C + 40 * MIN, '8a1f1d4a8a6ffff');
  agg.drainUpdates();
  assert.equal(window.drained(agg), true);
  assert.equal(new OutputWindow(C, 0).drained(agg), false, 'no upper bound: never drained');
});

test('OUTPUT_FROM_MS / OUTPUT_UNTIL_MS must be bucket boundaries, in order', () => {
  const env = { KAFKA_BOOTSTRAP: '127.0.0.1:9092' };
  assert.equal(loadProcessorConfig({ ...env, OUTPUT_UNTIL_MS: String(C) }).outputUntilMs, C);
  assert.throws(() => loadProcessorConfig({ ...env, OUTPUT_FROM_MS: String(C + 1) }), ConfigError);
  assert.throws(
    () => loadProcessorConfig({ ...env, OUTPUT_FROM_MS: String(C), OUTPUT_UNTIL_MS: String(C) }),
    ConfigError,
  );
});
