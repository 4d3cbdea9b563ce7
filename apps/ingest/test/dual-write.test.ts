// Dual-write to the next ingestion topic generation (docs/operations.md, partition changes): each record
// is copied once, same key/value/timestamp, partitioned by its region key over the new count.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { javaPartition } from '@footfall/kafka';
import { NextGenerationRouter, nextIngestionTopic } from '../src/dual-write.ts';
import type { OutgoingRecord } from '../src/producer.ts';

test('TOPIC_INGESTION_NEXT: `-` or empty is none', () => {
  assert.equal(nextIngestionTopic({ topicIngestionNext: '-' }), undefined);
  assert.equal(nextIngestionTopic({ topicIngestionNext: ' ' }), undefined);
  assert.equal(nextIngestionTopic({ topicIngestionNext: 'ingestion.v2' }), 'ingestion.v2');
});

test('every record is copied to the next topic, keyed alike, partitioned over its own count', () => {
  const regions = ['851f1d4bfffffff', '851f1d43fffffff', '851f1d5bfffffff', '851e624ffffffff'];
  const keys = regions.map((r) => Buffer.from(r));
  const records: OutgoingRecord[] = keys.map((key, i) => ({
    topic: 'ingestion',
    key,
    value: Buffer.from([i]),
    partition: javaPartition(key, 6),
    timestamp: 1000n + BigInt(i),
  }));
  const router = new NextGenerationRouter('ingestion.v2');
  for (const partitions of [12, 24, 12]) {
    const out = router.withCopies(records, partitions);
    assert.equal(out.length, 2 * records.length);
    assert.deepEqual(out.slice(0, records.length), records);
    for (const [i, copy] of out.slice(records.length).entries()) {
      const r = records[i] as OutgoingRecord;
      assert.equal(copy.topic, 'ingestion.v2');
      assert.equal(copy.key, r.key);
      assert.equal(copy.value, r.value);
      assert.equal(copy.timestamp, r.timestamp);
      assert.equal(copy.partition, javaPartition(regions[i] as string, partitions));
      // Doubling the count splits each old partition in two: a region moves from p to p or p + 6.
      if (partitions === 12) assert.equal(copy.partition % 6, r.partition);
    }
  }
});
