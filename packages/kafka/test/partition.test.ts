import assert from 'node:assert/strict';
import { test } from 'node:test';
import { javaPartition, murmur2 } from '@footfall/kafka';

const enc = new TextEncoder();

// Vectors from Kafka's UtilsTest.testMurmur2.
const vectors: [string, number][] = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

test('murmur2 matches Java Utils.murmur2', () => {
  for (const [key, expected] of vectors) assert.equal(murmur2(enc.encode(key)), expected, key);
});

test('javaPartition = (murmur2 & 0x7fffffff) % partitions, for strings and bytes', () => {
  // -973932308 & 0x7fffffff = 1173551340; % 6 = 0, % 7 = 3.
  assert.equal(javaPartition('21', 6), 0);
  assert.equal(javaPartition('21', 7), 3);
  // -790332482 & 0x7fffffff = 1357151166; % 6 = 0, % 10 = 6.
  assert.equal(javaPartition('foobar', 6), 0);
  assert.equal(javaPartition(enc.encode('foobar'), 10), 6);
  // 479470107 % 6 = 3.
  assert.equal(javaPartition('abc', 6), 3);
  assert.equal(javaPartition('abc', 1), 0);
});

test('javaPartition hashes UTF-8 bytes and rejects bad partition counts', () => {
  assert.equal(javaPartition('größe', 12), javaPartition(enc.encode('größe'), 12));
  assert.throws(() => javaPartition('a', 0), RangeError);
  assert.throws(() => javaPartition('a', 1.5), RangeError);
});
