import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withSeed } from '@footfall/testing';
import {
  type AlertRule,
  applyCount,
  currentCount,
  rankCells,
  ruleError,
  step,
  targetError,
} from '../src/index.ts';

const K = 5;

/** Runs a rule over a series of observations; returns the indexes at which it fired. */
function run(rule: AlertRule, obs: { devices: number; rank: number | null }[]): number[] {
  let state: boolean | null = null;
  const fired: number[] = [];
  obs.forEach((o, i) => {
    const next = step(rule, state, o);
    state = next.state;
    if (next.fired) fired.push(i);
  });
  return fired;
}
const counts = (...d: number[]) => d.map((devices) => ({ devices, rank: null }));
const ranks = (...r: (number | null)[]) => r.map((rank) => ({ devices: 10, rank }));

describe('alert rules', () => {
  it('a count hovering at the threshold fires once; re-arming needs the far side of the band', () => {
    const rule: AlertRule = { kind: 'above', threshold: 10, hysteresis: 2 };
    // baseline 3; 10 fires; 9,10,9,10,8 stay inside the band (>= 8); 7 re-arms; 10 fires again.
    assert.deepEqual(run(rule, counts(3, 10, 9, 10, 9, 10, 8, 10, 7, 10)), [1, 9]);
    // Without hysteresis the same series flaps on every crossing.
    assert.deepEqual(
      run({ ...rule, hysteresis: 0 }, counts(3, 10, 9, 10, 9, 10, 8, 10, 7, 10)),
      [1, 3, 5, 7, 9],
    );
  });

  it('the first observation is a baseline, never an alert', () => {
    assert.deepEqual(run({ kind: 'above', threshold: 10, hysteresis: 2 }, counts(50, 50)), []);
    assert.deepEqual(
      run({ kind: 'below', threshold: 10, hysteresis: 2 }, counts(0, 20, 9, 11, 9, 12, 3)),
      [2, 6],
    );
  });

  it('top-K: enters at rank <= K, re-arms only past K + hysteresis (unranked counts as out)', () => {
    const enters: AlertRule = { kind: 'enters_top', threshold: 3, hysteresis: 2 };
    assert.deepEqual(run(enters, ranks(9, 3, 4, 5, 2, 6, 1, null, 3)), [1, 6, 8]);
    const leaves: AlertRule = { kind: 'leaves_top', threshold: 3, hysteresis: 2 };
    assert.deepEqual(run(leaves, ranks(1, 4, 5, 6, 7, 2, null)), [3, 6]);
  });

  it('k-anonymity: every level a count is compared with is >= K', () => {
    assert.match(ruleError({ kind: 'above', threshold: 4, hysteresis: 0 }, K) ?? '', /K_ANONYMITY/);
    assert.match(ruleError({ kind: 'above', threshold: 6, hysteresis: 2 }, K) ?? '', /re-arm/);
    assert.equal(ruleError({ kind: 'above', threshold: 7, hysteresis: 2 }, K), undefined);
    assert.match(ruleError({ kind: 'below', threshold: 3, hysteresis: 9 }, K) ?? '', /K_ANONYMITY/);
    assert.equal(ruleError({ kind: 'below', threshold: 5, hysteresis: 9 }, K), undefined);
    assert.match(ruleError({ kind: 'enters_top', threshold: 99, hysteresis: 2 }, K) ?? '', /100/);
    // Sub-K counts are all alike to an allowed rule: 0 and 4 lead to the same states.
    for (const kind of ['above', 'below'] as const) {
      const rule: AlertRule = { kind, threshold: 7, hysteresis: 2 };
      for (const prev of [null, true, false])
        assert.deepEqual(
          step(rule, prev, { devices: 0, rank: null }),
          step(rule, prev, { devices: 4, rank: null }),
        );
    }
  });

  it('random walks: fires exactly on observed upward crossings of the band (seeded)', async (t) => {
    await withSeed(t, (random) => {
      for (let trial = 0; trial < 200; trial++) {
        const threshold = 5 + Math.floor(random() * 30);
        const hysteresis = Math.floor(random() * (threshold - 5 + 1));
        const rule: AlertRule = { kind: 'above', threshold, hysteresis };
        let n = Math.floor(random() * 60);
        const series: number[] = [];
        for (let i = 0; i < 300; i++) {
          n = Math.max(0, n + Math.round((random() - 0.5) * 6));
          series.push(n);
        }
        const fired = run(rule, counts(...series));
        // Reference: an independent two-level automaton.
        const expected: number[] = [];
        let armed: boolean | null = null;
        series.forEach((c, i) => {
          if (c >= threshold) {
            if (armed === true) expected.push(i);
            armed = false;
          } else if (c < threshold - hysteresis) armed = true;
        });
        assert.deepEqual(fired, expected, `rule ${JSON.stringify(rule)}`);
        // Between two alerts the count went below the re-arm level.
        for (let j = 1; j < fired.length; j++) {
          const between = series.slice((fired[j - 1] ?? 0) + 1, fired[j]);
          assert.ok(between.some((c) => c < threshold - hysteresis));
        }
      }
    });
  });

  it('counts: the larger of the current and previous bucket; older revisions change nothing', () => {
    let c = applyCount(undefined, 'a', 60_000, 12);
    c = applyCount(c, 'a', 120_000, 2); // the new bucket has barely started filling
    assert.equal(currentCount(c, 120_000, 60_000), 12);
    c = applyCount(c, 'a', 120_000, 15);
    assert.equal(currentCount(c, 120_000, 60_000), 15);
    assert.deepEqual(applyCount(c, 'a', 0, 99), c);
    assert.equal(currentCount(c, 240_000, 60_000), 0, 'nothing in the last two buckets of the region');
    assert.deepEqual(
      [
        ...rankCells(
          new Map([
            ['b', 7],
            ['a', 7],
            ['c', 4],
            ['d', 9],
          ]),
          K,
        ),
      ],
      [
        ['d', 1],
        ['a', 2],
        ['b', 3],
      ],
    );
  });

  it('targets: exactly one of a cell and a place', () => {
    assert.equal(targetError('c', undefined), undefined);
    assert.equal(targetError(undefined, 'p'), undefined);
    assert.match(targetError(undefined, undefined) ?? '', /exactly one/);
    assert.match(targetError('c', 'p') ?? '', /exactly one/);
  });
});
