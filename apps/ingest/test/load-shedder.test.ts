// CPU admission (issue 20 item 5): the shedder reports "late" after the event loop was blocked, and
// recovers once it runs on time; disabled at 0. The block is a synchronous busy-wait, so the delay it
// causes is certain, not timing luck.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '@footfall/testing';
import { EventLoopShedder } from '../src/load-shedder.ts';

const block = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

test('late while the event loop is blocked beyond the limit, on time again after', async () => {
  const shedder = new EventLoopShedder({ maxDelayMs: 150, windowMs: 100 });
  try {
    assert.equal(shedder.late, false);
    // Keep the loop blocked 300 ms at a time until a window has seen it.
    await waitFor(
      'shedder late',
      () => {
        block(400);
        return shedder.late;
      },
      30_000,
      1,
    );
    assert.ok(shedder.lastDelayMs > 150, `mean delay ${shedder.lastDelayMs} ms`);
    await waitFor('shedder on time again', () => !shedder.late, 30_000, 20);
  } finally {
    shedder.close();
  }
});

test('maxDelayMs 0 never sheds', () => {
  const shedder = new EventLoopShedder({ maxDelayMs: 0 });
  block(200);
  assert.equal(shedder.late, false);
  shedder.close();
});
