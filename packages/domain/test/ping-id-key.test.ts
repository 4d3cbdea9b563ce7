import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withSeed } from '@footfall/testing';
import { DeviceState } from '../src/device-state.ts';
import { PartitionAggregator, type PingEvent } from '../src/index.ts';
import { hasPing, IdKey, keyAfter, storeKey } from '../src/ping-id-key.ts';
import { MIN, T0, View, X, X2, Y, Z } from './helpers.ts';

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const OTHER = ['.', ' ', 'é', '~', '\u0000', '😀'];

/** Ids of every kind: compact (≤ 24 chars of the alphabet), too long, or with other characters. */
function randomId(rnd: () => number): string {
  const len = Math.floor(rnd() * 32);
  let s = '';
  for (let i = 0; i < len; i++) {
    s += rnd() < 0.03 ? (OTHER[Math.floor(rnd() * OTHER.length)] as string) : B64[Math.floor(rnd() * 64)];
  }
  // Shared prefixes, so that order is decided late in the string (as the simulator's `<tag>-<seq>` ids).
  return rnd() < 0.5 ? `dev1-${s}` : s;
}

test('id keys order exactly as the id strings, for compact and fallback ids alike', async (t) => {
  await withSeed(t, (rnd) => {
    const dev = new DeviceState('d', 0);
    const a = new IdKey();
    const b = new IdKey();
    for (let i = 0; i < 20_000; i++) {
      const x = randomId(rnd);
      const y = rnd() < 0.1 ? x : randomId(rnd);
      const arr = [0, 0, 0];
      storeKey(dev, b.set(y), arr, 0);
      a.set(x);
      assert.equal(keyAfter(dev, a, arr, 0), x > y, `${JSON.stringify(x)} after ${JSON.stringify(y)}`);
      dev.longIds = null;
    }
  });
});

test('dedup by id key: compact and fallback ids, accurate and inaccurate pings', () => {
  const agg = new PartitionAggregator();
  const long = 'x'.repeat(40);
  const odd = 'ping.1';
  const ids = ['a', 'dev1-00000001', long, odd];
  for (const [i, id] of ids.entries()) {
    assert.equal(
      agg.add({ deviceId: 'd', pingId: id, eventTimeMs: T0 + i * MIN, cell: X, accuracyM: 10 }),
      'accepted',
    );
  }
  assert.equal(
    agg.add({ deviceId: 'd', pingId: 'inacc.1', eventTimeMs: T0, cell: X, accuracyM: 500 }),
    'inaccurate',
  );
  for (const id of [...ids, 'inacc.1']) {
    assert.equal(
      agg.add({ deviceId: 'd', pingId: id, eventTimeMs: T0 + MIN, cell: X, accuracyM: 10 }),
      'duplicate',
      id,
    );
  }
  // Same ids on another device are not duplicates; a prefix of a compact id is another id.
  assert.equal(agg.add({ deviceId: 'e', pingId: long, eventTimeMs: T0, cell: X, accuracyM: 10 }), 'accepted');
  assert.equal(
    agg.add({ deviceId: 'd', pingId: 'dev1-0000000', eventTimeMs: T0, cell: X, accuracyM: 10 }),
    'accepted',
  );
  assert.equal(agg.stats().dedupIds, 7);
  const dev = new DeviceState('d', 0);
  const arr = [0, 0, 0];
  storeKey(dev, new IdKey().set(long), arr, 0);
  assert.equal(dev.longIds?.get(arr[1] as number), long, 'a fallback id keeps its string');
  assert.equal(hasPing(dev, new IdKey().set(long)), false, 'a key counts only once it is in the window');
});

test('pings with equal event times in different cells: the result is independent of arrival order, with mixed id kinds', async (t) => {
  await withSeed(t, (rnd) => {
    const cells = [X, X2, Y, Z];
    const pings: PingEvent[] = [];
    // Distinct ids: a reused id is a duplicate, and which of two duplicates wins depends on arrival.
    const used = new Set<string>();
    const freshId = () => {
      let id = randomId(rnd);
      while (used.has(id)) id = randomId(rnd);
      used.add(id);
      return id;
    };
    for (let i = 0; i < 400; i++) {
      // Few distinct times, so that many pings tie.
      const tMs = T0 + Math.floor(rnd() * 60) * MIN;
      pings.push({
        deviceId: `d${Math.floor(rnd() * 3)}`,
        pingId: freshId(),
        eventTimeMs: tMs,
        cell: cells[Math.floor(rnd() * cells.length)] as string,
        accuracyM: 10,
      });
    }
    const run = (order: PingEvent[]) => {
      const agg = new PartitionAggregator();
      const view = new View();
      for (const p of order) agg.add(p);
      view.apply(agg.drainUpdates());
      return view;
    };
    const sorted = [...pings].sort((a, b) => a.eventTimeMs - b.eventTimeMs);
    const ref = run(sorted);
    for (let k = 0; k < 3; k++) {
      const shuffled = [...pings];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [shuffled[i], shuffled[j]] = [shuffled[j] as PingEvent, shuffled[i] as PingEvent];
      }
      const v = run(shuffled);
      assert.deepEqual(v.visitList(), ref.visitList());
      assert.deepEqual(new Map([...v.occ].sort()), new Map([...ref.occ].sort()));
    }
  });
});
