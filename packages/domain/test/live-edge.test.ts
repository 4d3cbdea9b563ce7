import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withSeed } from '@footfall/testing';
import {
  completenessAt,
  DelayProfile,
  delayCdfAt,
  LiveEdge,
  type LiveOccupancyUpdate,
  NowcastModel,
  PartitionAggregator,
  publishLiveOccupancy,
} from '../src/index.ts';
import { MIN, ping, SEC, T0, View, X, Y } from './helpers.ts';

const edgeOptions = {
  bucketMs: MIN,
  presenceMaxGapMs: 10 * MIN,
  horizonMs: 15 * MIN,
  settleMs: 30 * MIN,
  delayWindowMs: 30 * MIN,
  learnMinCount: 1,
};

/** The provisional table a sink would hold: latest update per (cell, bucket). */
function apply(table: Map<string, LiveOccupancyUpdate>, updates: LiveOccupancyUpdate[]) {
  for (const u of updates) table.set(`${u.cell}|${u.bucketStartMs}`, u);
  return table;
}
const at = (table: Map<string, LiveOccupancyUpdate>, cell: string, b: number) => table.get(`${cell}|${b}`);

test('presence is carried from the latest ping to now, provisionally, then revised by the pings that arrive', () => {
  const agg = new PartitionAggregator();
  const edge = new LiveEdge(edgeOptions);
  const table = new Map<string, LiveOccupancyUpdate>();
  agg.add(ping('a', T0 + 10 * SEC, X));
  agg.add(ping('b', T0 + 20 * SEC, X));
  apply(table, edge.snapshot(agg, T0 + 5 * MIN + 30 * SEC));
  // Bucket of the pings: both confirmed. Later buckets up to now: carried only.
  assert.deepEqual([at(table, X, T0)?.confirmed, at(table, X, T0)?.observed], [2, 2]);
  for (let m = 1; m <= 5; m++) {
    const u = at(table, X, T0 + m * MIN);
    assert.deepEqual([u?.confirmed, u?.observed], [0, 2], `bucket +${m} min`);
    assert.equal(u?.finalAtMs, T0 + (m + 1) * MIN + 15 * MIN);
  }
  assert.equal(at(table, X, T0 + 6 * MIN), undefined, 'nothing after now');

  // a's next ping arrives (at +4 min, X): a is confirmed through +4 min; b left for Y at +3 min.
  agg.add(ping('a', T0 + 4 * MIN, X));
  agg.add(ping('b', T0 + 3 * MIN, Y));
  const revised = edge.snapshot(agg, T0 + 5 * MIN + 40 * SEC);
  apply(table, revised);
  assert.deepEqual([at(table, X, T0 + 2 * MIN)?.confirmed, at(table, X, T0 + 2 * MIN)?.observed], [1, 1]);
  assert.deepEqual([at(table, X, T0 + 5 * MIN)?.confirmed, at(table, X, T0 + 5 * MIN)?.observed], [0, 1]);
  assert.deepEqual([at(table, Y, T0 + 5 * MIN)?.confirmed, at(table, Y, T0 + 5 * MIN)?.observed], [0, 1]);
  // Only changed values are emitted: a snapshot with nothing new (same instant) is empty.
  assert.deepEqual(edge.snapshot(agg, T0 + 5 * MIN + 40 * SEC), []);

  // Within the gap of now both are still carried (a from +4 min, b from +3 min at Y) …
  apply(table, edge.snapshot(agg, T0 + 12 * MIN + 30 * SEC));
  assert.equal(at(table, X, T0 + 12 * MIN)?.observed, 1);
  assert.equal(at(table, Y, T0 + 12 * MIN)?.observed, 1);
  // … past it nobody is: the carried-only buckets are withdrawn (observed 0), confirmed ones stay.
  apply(table, edge.snapshot(agg, T0 + 14 * MIN + 5 * SEC));
  assert.equal(at(table, X, T0 + 12 * MIN)?.observed, 0);
  assert.equal(at(table, Y, T0 + 12 * MIN)?.observed, 0);
  assert.equal(at(table, X, T0 + 14 * MIN), undefined);
  assert.equal(at(table, X, T0 + 4 * MIN)?.confirmed, 1);
});

test('snapshots never change the deterministic final counts (replay safety)', async (t) => {
  await withSeed(t, (random) => {
    const pings = [];
    for (let i = 0; i < 3000; i++) {
      const d = Math.floor(random() * 40);
      pings.push(ping(`d${d}`, T0 + Math.floor(random() * 90 * MIN), random() < 0.7 ? X : Y));
    }
    const plain = new PartitionAggregator();
    const watched = new PartitionAggregator();
    const edge = new LiveEdge(edgeOptions);
    const a = new View();
    const b = new View();
    for (const [i, p] of pings.entries()) {
      plain.add(p);
      watched.add(p);
      if (i % 50 === 0) {
        edge.observePing(p.cell, p.eventTimeMs, p.eventTimeMs + Math.floor(random() * 5 * MIN));
        edge.snapshot(watched, p.eventTimeMs + Math.floor(random() * 10 * MIN));
        a.apply(plain.drainUpdates());
        b.apply(watched.drainUpdates());
      }
    }
    a.apply(plain.drainUpdates());
    b.apply(watched.drainUpdates());
    assert.deepEqual([...b.occ].sort(), [...a.occ].sort());
    assert.deepEqual([...b.visits].sort(), [...a.visits].sort());
  });
});

test('the delay profile learns the distribution and forgets old windows', async (t) => {
  await withSeed(t, (random) => {
    const p = new DelayProfile(10 * MIN);
    for (let i = 0; i < 20_000; i++) {
      const e = T0 + i * 20;
      p.observe(e, e + random() * 300 * SEC); // uniform 0–5 min
    }
    const cdf = p.cdf();
    assert.ok(
      Math.abs(delayCdfAt(cdf, 150 * SEC) - 0.5) < 0.03,
      `cdf(150 s) = ${delayCdfAt(cdf, 150 * SEC)}`,
    );
    assert.equal(delayCdfAt(cdf, 301 * SEC), 1);
    assert.equal(delayCdfAt(cdf, 0), 0);
    // Completeness of a bucket grows with time and reaches 1 once every delay has passed.
    const c = [0, 1, 2, 5, 7].map((m) => completenessAt(cdf, T0, MIN, T0 + MIN + m * MIN));
    for (let i = 1; i < c.length; i++) assert.ok((c[i] as number) >= (c[i - 1] as number), c.join());
    assert.ok((c[0] as number) < 0.2 && c[4] === 1, c.join());
    // Two windows later, only the new behaviour (no delay) is known.
    const later = T0 + 20_000 * 20 + 25 * MIN;
    for (let i = 0; i < 100; i++) p.observe(later + i, later + i);
    assert.equal(p.samples, 100);
    assert.equal(delayCdfAt(p.cdf(), 5 * SEC), 1);
  });
});

test('the nowcast model learns the development factor and its interval covers', async (t) => {
  await withSeed(t, (random) => {
    const m = new NowcastModel({ lags: 3 });
    assert.deepEqual(Array.from(m.factors(0)), [1, 1, 1, 0, 0], 'no evidence: the carry rule');
    // Truth = confirmed + long-stay carried + half of the short-stay carried (the others left).
    for (let b = 0; b < 200; b++) {
      m.decay();
      for (let c = 0; c < 20; c++) {
        const confirmed = Math.floor(random() * 5);
        const long = 5 + Math.floor(random() * 20);
        const short = Math.floor(random() * 10);
        const settled = confirmed + long + Math.round(short * (0.4 + 0.2 * random()));
        m.learn(0, [confirmed, long, short], settled);
      }
    }
    const [fc, fl, fs] = m.factors(0) as unknown as [number, number, number];
    assert.ok(
      Math.abs(fl - 1) < 0.05 && Math.abs(fs - 0.5) < 0.08 && Math.abs(fc - 1) < 0.15,
      `${fc} ${fl} ${fs}`,
    );
    assert.deepEqual(Array.from(m.factors(1)), [1, 1, 1, 0, 0], 'a lag without evidence keeps the prior');
    const e = m.estimate(0, [4, 20, 8]);
    assert.ok(Math.abs(e.estimate - 28) < 1.5, `estimate ${e.estimate}`);
    assert.ok(e.lower < 28 && e.upper > 28 && e.lower >= 4, JSON.stringify(e));
  });
});

test('silent devices (latest ping older than the gap, later pings still on the phone) are learned and counted', () => {
  // X holds 20 devices all the time. 10 upload every ping at once; the other 10 hold their pings and
  // upload them together every 15 min, so for 5 min of each cycle their latest known ping is more than
  // the 10 min gap old: the carry alone sees 10, then 20 again. Only the silent part tells the phases
  // apart; a factor on the carried devices cannot be right in both.
  const agg = new PartitionAggregator();
  const edge = new LiveEdge(edgeOptions);
  const table = new Map<string, LiveOccupancyUpdate>();
  const held: ReturnType<typeof ping>[] = [];
  const atNow: { observed: number; estimate: number }[] = [];
  for (let m = 0; m < 150; m++) {
    const t = T0 + m * MIN;
    for (let d = 0; d < 10; d++) agg.add(ping(`steady${d}`, t + d * SEC, X));
    for (let d = 0; d < 10; d++) held.push(ping(`held${d}`, t + d * SEC, X));
    if (m % 15 === 14) for (const p of held.splice(0)) agg.add(p);
    for (const s of [20, 40]) {
      apply(table, edge.snapshot(agg, t + s * SEC));
      const u = at(table, X, t);
      if (m >= 120 && u !== undefined) atNow.push({ observed: u.observed, estimate: u.estimate });
    }
  }
  // The carry alone sees 10 in a third of the instants, 20 in the others; the estimate is 20 in both.
  const missed = atNow.filter((a) => a.observed === 10).length;
  assert.ok(missed >= 10 && missed < atNow.length - 10, JSON.stringify(atNow));
  for (const a of atNow)
    assert.ok(Math.abs(a.estimate - 20) <= 2, `estimate at now: ${JSON.stringify(atNow)}`);
});

test('k-anonymity: nothing of a small observed count is published, and no bound below k', () => {
  const k = 5;
  const raw = { observed: 4, confirmed: 2, estimate: 6, lower: 3, upper: 9, completeness: 0.4 };
  assert.deepEqual(publishLiveOccupancy(raw, k), {
    suppressed: true,
    observed: null,
    confirmed: null,
    estimate: null,
    lower: null,
    upper: null,
    completeness: 0.4,
  });
  assert.equal(publishLiveOccupancy({ ...raw, observed: 7, estimate: 4 }, k).suppressed, true);
  assert.deepEqual(publishLiveOccupancy({ ...raw, observed: 7, estimate: 8 }, k), {
    suppressed: false,
    observed: 7,
    confirmed: null,
    estimate: 8,
    lower: null,
    upper: 9,
    completeness: 0.4,
  });
  assert.equal(
    publishLiveOccupancy({ ...raw, observed: 7, estimate: 8, lower: 5, confirmed: 5 }, k).lower,
    5,
  );
});
