import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AggregatedKey,
  formatAggregatedKey,
  occupancyKey,
  parseAggregatedKey,
  visitKey,
} from '@footfall/contracts';
import { withSeed } from '@footfall/testing';

const ALPHABET = 'abcdef0123456789:-_.@ xyzé';

function randomText(random: () => number, min: number, max: number): string {
  const length = min + Math.floor(random() * (max - min + 1));
  let text = '';
  for (let i = 0; i < length; i++) text += ALPHABET[Math.floor(random() * ALPHABET.length)];
  return text;
}

function randomKey(random: () => number): AggregatedKey {
  // Cells are H3 hex strings (never ':'); device ids are opaque (':' allowed); times are epoch ms.
  const cell = (0x8a1f00000000000n + BigInt(Math.floor(random() * 2 ** 40))).toString(16);
  const ms = Math.floor((random() - 0.1) * 4e12);
  return random() < 0.5
    ? { kind: 'occ', cell, bucketStartMs: ms }
    : { kind: 'visit', deviceId: randomText(random, 1, 24), cell, startMs: ms };
}

test('aggregated keys round-trip: parse(format(k)) = k (seeded, 5000 keys)', async (t) => {
  await withSeed(t, (random) => {
    for (let i = 0; i < 5000; i++) {
      const key = randomKey(random);
      assert.deepEqual(parseAggregatedKey(formatAggregatedKey(key)), key, formatAggregatedKey(key));
    }
  });
});

test('the key format is the documented one', () => {
  assert.equal(occupancyKey({ cell: '8a1f', bucketStartMs: 60_000 }), 'occ:8a1f:60000');
  assert.equal(visitKey({ deviceId: 'd:1', cell: '8a1f', startMs: 5 }), 'visit:d:1:8a1f:5');
  assert.deepEqual(parseAggregatedKey('visit:d:1:8a1f:5'), {
    kind: 'visit',
    deviceId: 'd:1',
    cell: '8a1f',
    startMs: 5,
  });
});

test('anything else is not a key', () => {
  for (const bad of [
    '',
    'occ:',
    'occ:x',
    'occ:x:y',
    'occ::5',
    'occ:x:5:6',
    'occ:x:1e3',
    'occ:x: 5',
    'occ:x:9007199254740993',
    'visit:',
    'visit::x:5',
    'visit:d:x:',
    'visit:d::5',
    'visit:x:5',
    'other:x:5',
  ]) {
    assert.equal(parseAggregatedKey(bad), undefined, JSON.stringify(bad));
  }
});
