import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  createTopics,
  isControlBatch,
  offsetForTimestamp,
  recordTimestamp,
  stableCommittedOffsets,
} from '@footfall/kafka';
import { kafkaBootstrap, waitFor } from '@footfall/testing';
import { Consumer, type Message, Producer } from '@platformatic/kafka';

const T = 1_700_000_000_000;

async function fixture() {
  const topic = `offsets-${randomBytes(4).toString('hex')}`;
  await createTopics(kafkaBootstrap(), [{ name: topic, partitions: 2 }]);
  const groupId = `g-offsets-${randomBytes(4).toString('hex')}`;
  const consumer = new Consumer({ clientId: 'test-offsets', groupId, bootstrapBrokers: [kafkaBootstrap()] });
  return { topic, groupId, consumer };
}

test('stableCommittedOffsets reads a transactional offset commit (requireStable); -1n where none', async (t) => {
  const { topic, groupId, consumer } = await fixture();
  t.after(() => consumer.close(true));
  consumer.topics.track(topic);
  await consumer.joinGroup({});
  const producer = new Producer({
    clientId: 'test-offsets-tx',
    bootstrapBrokers: [kafkaBootstrap()],
    transactionalId: `tx-${randomBytes(4).toString('hex')}`,
    producerId: -1n,
    producerEpoch: -1,
    idempotent: true,
    acks: -1,
  });
  t.after(() => producer.close(true));
  const tx = await producer.beginTransaction();
  await tx.send({ messages: [{ topic, partition: 0, key: Buffer.from('k'), value: Buffer.from('v') }] });
  await tx.addConsumer(consumer);
  await tx.addOffset({
    topic,
    partition: 0,
    offset: 41n, // the client commits offset + 1
    metadata: {
      consumer: {
        groupId,
        generationId: consumer.generationId,
        memberId: consumer.memberId,
        coordinatorId: consumer.coordinatorId,
      },
    },
  } as unknown as Message);
  await tx.commit();

  const committed = await stableCommittedOffsets(consumer, topic, [0, 1]);
  assert.equal(committed.get(0), 42n);
  assert.equal(committed.get(1), -1n);

  // The commit marker is a control batch after the data batch: a reader must step over it.
  const metadata = await consumer.metadata({ topics: [topic] });
  const info = metadata.topics.get(topic);
  assert.ok(info);
  const batches = await waitFor('the data and marker batches', async () => {
    const response = await consumer.fetch({
      node: info.partitions[0]?.leader ?? 1,
      topics: [
        {
          topicId: info.id,
          partitions: [
            {
              partition: 0,
              fetchOffset: 0n,
              partitionMaxBytes: 1 << 20,
              currentLeaderEpoch: -1,
              lastFetchedEpoch: -1,
            },
          ],
        },
      ],
      maxWaitTime: 10,
      minBytes: 1,
      maxBytes: 1 << 20,
    });
    const records = response.responses[0]?.partitions[0]?.records ?? [];
    return records.length >= 2 ? records : undefined;
  });
  assert.deepEqual(
    batches.map((b) => isControlBatch(b)),
    [false, true],
  );
  // Past the last data record there is only the marker: no timestamp.
  assert.equal(await recordTimestamp(consumer, topic, 0, 1n), undefined);
});

test('recordTimestamp and offsetForTimestamp agree with the produced timestamps', async (t) => {
  const { topic, consumer } = await fixture();
  t.after(() => consumer.close(true));
  const producer = new Producer({ clientId: 'test-offsets-ts', bootstrapBrokers: [kafkaBootstrap()] });
  t.after(() => producer.close());
  await producer.send({
    messages: [0, 1, 2, 3].map((i) => ({
      topic,
      partition: 1,
      key: Buffer.from('k'),
      value: Buffer.from(String(i)),
      timestamp: BigInt(T + i * 60_000),
    })),
  });
  assert.equal(await recordTimestamp(consumer, topic, 1, 2n), T + 2 * 60_000);
  assert.equal(await offsetForTimestamp(consumer, topic, 1, BigInt(T + 90_000)), 2n);
  assert.equal(await offsetForTimestamp(consumer, topic, 1, BigInt(T)), 0n);
  assert.equal(await offsetForTimestamp(consumer, topic, 1, BigInt(T + 3_600_000)), -1n);
});
