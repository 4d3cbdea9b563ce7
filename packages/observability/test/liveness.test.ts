import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConsumerLiveness, createRegistry, OpsServer } from '@footfall/observability';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('a consumer with lag that does not advance for stallTimeoutMs is not alive; progress revives it', () => {
  const c = clock();
  const live = new ConsumerLiveness({ stallTimeoutMs: 10_000, now: c.now });
  assert.equal(live.check().alive, true);
  live.reportLag(0);
  c.advance(60_000);
  assert.equal(live.check().alive, true, 'idle and caught up is alive');
  live.reportLag(5);
  c.advance(9_000);
  assert.equal(live.check().alive, true, 'the clock starts when it falls behind, not at the last progress');
  c.advance(2_000);
  assert.deepEqual(live.check(), { alive: false, reason: 'stalled', lag: 5, stalledForMs: 11_000 });
  live.progressed();
  assert.equal(live.check().alive, true);
  c.advance(10_001);
  assert.equal(live.check().alive, false);
});

test('unknown lag (broker unreachable) never counts as a stall; a dead loop always fails', () => {
  const c = clock();
  const live = new ConsumerLiveness({ stallTimeoutMs: 1_000, now: c.now });
  live.reportLag(3);
  c.advance(900);
  live.reportLag(undefined);
  c.advance(60_000);
  assert.equal(live.check().alive, true);
  live.reportLag(3);
  c.advance(500);
  assert.equal(live.check().alive, true, 'the stall clock restarts once the lag is known again');
  live.died(new Error('fetch failed 4 times'));
  const status = live.check();
  assert.equal(status.alive, false);
  assert.equal(status.reason, 'loop_dead');
  assert.equal(status.detail, 'fetch failed 4 times');
});

test('the lag function is sampled; a throwing sampler means unknown', async () => {
  let lag: number | Error = 4;
  const live = new ConsumerLiveness({
    stallTimeoutMs: 1_000,
    lag: () => {
      if (lag instanceof Error) throw lag;
      return lag;
    },
  });
  await live.sample();
  assert.equal(live.check().lag, 4);
  lag = new Error('broker down');
  await live.sample();
  assert.equal(live.check().lag, undefined);
});

test('/healthz is 503 with the failing check while /readyz keeps its own answer', async (t) => {
  const c = clock();
  const live = new ConsumerLiveness({ stallTimeoutMs: 1_000, now: c.now });
  const ops = await OpsServer.start({
    port: 0,
    host: '127.0.0.1',
    registry: createRegistry('test', false),
    readiness: { kafka: () => true },
    liveness: { consumer: () => live.check() },
  });
  t.after(() => ops.close());
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${ops.port}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  assert.equal((await get('/healthz')).status, 200);
  live.reportLag(2);
  c.advance(1_500);
  const sick = await get('/healthz');
  assert.equal(sick.status, 503);
  assert.deepEqual(sick.body, {
    status: 'unhealthy',
    checks: { consumer: { alive: false, reason: 'stalled', lag: 2, stalledForMs: 1_500 } },
  });
  assert.equal((await get('/readyz')).status, 200);
});
