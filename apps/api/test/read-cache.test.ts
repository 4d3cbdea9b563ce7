// The registry read cache (places/read-cache.ts): fresh within the TTL, served stale while one background
// load refreshes it up to 2 × TTL, loaded before answering after that; a clear() wins over a load that
// began before it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadCache } from '../src/places/read-cache.ts';

test('stale-while-revalidate within 2 × TTL; a clear beats an older background load', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const cache = new ReadCache<{ v: number }>(1_000);
  let loads = 0;
  let release: (() => void) | undefined;
  const load =
    (v: number, gated = false) =>
    () => {
      loads++;
      return gated
        ? new Promise<{ v: number }>((resolve) => {
            release = () => resolve({ v });
          })
        : Promise.resolve({ v });
    };
  assert.equal((await cache.get('a', load(1))).v, 1);
  assert.equal((await cache.get('a', load(2))).v, 1, 'fresh: no load');
  assert.equal(loads, 1);
  t.mock.timers.tick(1_500);
  assert.equal(
    (await cache.get('a', load(3, true))).v,
    1,
    'stale within 2 × TTL: the old value, one refresh',
  );
  assert.equal((await cache.get('a', load(4))).v, 1, 'the refresh is not repeated while it runs');
  assert.equal(loads, 2);
  release?.();
  await new Promise((r) => setImmediate(r));
  assert.equal((await cache.get('a', load(5))).v, 3, 'refreshed');
  assert.equal(loads, 2);
  t.mock.timers.tick(2_500);
  assert.equal((await cache.get('a', load(6))).v, 6, 'older than 2 × TTL: loaded before answering');
  // A background load that began before a write (clear) never stores its older answer.
  t.mock.timers.tick(1_500);
  assert.equal((await cache.get('a', load(7, true))).v, 6);
  cache.clear();
  assert.equal((await cache.get('a', load(8))).v, 8);
  release?.();
  await new Promise((r) => setImmediate(r));
  assert.equal((await cache.get('a', load(9))).v, 8, 'the pre-clear load was dropped');
});

test('TTL 0: no caching', async () => {
  const cache = new ReadCache<{ v: number }>(0);
  let n = 0;
  const load = () => Promise.resolve({ v: ++n });
  assert.equal((await cache.get('a', load)).v, 1);
  assert.equal((await cache.get('a', load)).v, 2);
});
