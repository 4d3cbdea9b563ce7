import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchLoop, type Msg } from '../src/index.ts';

const msg = (offset: number) => ({ partition: 0, offset: BigInt(offset) }) as unknown as Msg;

/** A loop whose batches complete when the test says so. */
function harness(maxBatchRecords = 3) {
  const batches: number[][] = [];
  const waiting: (() => void)[] = [];
  const calls: string[] = [];
  const loop = new BatchLoop({
    maxBatchRecords,
    flushIntervalMs: 100,
    processBatch: (batch) => {
      batches.push(batch.map((m) => Number(m.offset)));
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
    pause: () => calls.push('pause'),
    resume: () => calls.push('resume'),
    shouldStop: () => false,
    onError: (error) => calls.push(`error ${String(error)}`),
  });
  /** Completes the batch in flight and lets the loop take its next step. */
  const complete = async () => {
    for (let i = 0; i < 20 && waiting.length === 0; i++) await Promise.resolve();
    const resolve = waiting.shift();
    assert.ok(resolve, 'a batch is in flight');
    resolve();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { loop, batches, calls, complete };
}

test('a full batch is processed at once and pauses fetching until the backlog is written', async () => {
  const { loop, batches, calls, complete } = harness();
  for (let i = 0; i < 5; i++) loop.push(msg(i));
  assert.deepEqual(batches, [[0, 1, 2]]);
  assert.deepEqual(calls, ['pause']);
  assert.equal(loop.backlog, 5, 'in flight and waiting both count');
  await complete();
  assert.deepEqual(
    batches,
    [
      [0, 1, 2],
      [3, 4],
    ],
    'the rest follows in order, one batch at a time',
  );
  await complete();
  assert.deepEqual(calls, ['pause', 'resume']);
  assert.equal(loop.backlog, 0);
});

test('a partial batch waits for the flush interval', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { loop, batches, complete } = harness();
  loop.push(msg(0));
  loop.push(msg(1));
  assert.deepEqual(batches, []);
  t.mock.timers.tick(100);
  assert.deepEqual(batches, [[0, 1]]);
  await complete();
});

test('resubscribe lets the running drain finish, drops a waiting partial batch; stop starts nothing new', async () => {
  const { loop, batches, complete } = harness();
  for (let i = 0; i < 4; i++) loop.push(msg(i));
  const resubscribed = loop.resubscribe();
  await complete();
  await complete();
  await resubscribed;
  assert.deepEqual(batches, [[0, 1, 2], [3]], 'the drain in flight writes what it had, in order');
  loop.push(msg(5));
  loop.push(msg(6));
  await loop.resubscribe();
  assert.equal(loop.backlog, 0, 'a partial batch is dropped: the new stream reads it again');
  loop.push(msg(10));
  loop.stop();
  await loop.finish(() => false);
  assert.deepEqual(batches, [[0, 1, 2], [3]], 'after stop, only finish writes the rest, and only if told to');
  const finished = loop.finish(() => true);
  await complete();
  await finished;
  assert.deepEqual(batches.at(-1), [10]);
});
