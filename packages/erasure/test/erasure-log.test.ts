// The erasure log against the real broker: what an ingest or processor instance learns at start-up
// (everything acknowledged before) and live (each later erasure), and that bad records never stop it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { openDatabase } from '@footfall/db';
import {
  decodeErasure,
  ErasureError,
  ErasureNotifier,
  ErasurePublisher,
  ErasureTable,
  encodeErasure,
  erasuresTopicSpec,
} from '@footfall/erasure';
import { createTopics } from '@footfall/kafka';
import { createTemporaryDatabase, kafkaBootstrap } from '@footfall/testing';
import { Admin, ConfigResourceTypes, Producer } from '@platformatic/kafka';
import { Registry } from 'prom-client';

const connection = () => ({ kafkaBootstrap: [kafkaBootstrap()] });
const deviceId = () => `k1.${randomBytes(16).toString('base64url')}`;

async function freshTopic(partitions = 1): Promise<string> {
  const name = `erasures-${randomBytes(4).toString('hex')}`;
  await createTopics(kafkaBootstrap(), [{ ...erasuresTopicSpec(name), partitions }]);
  return name;
}

test('codec: round trip; anything that is not a v1 erasure is undefined', () => {
  const e = { deviceId: 'k1.AAAAAAAAAAAAAAAAAAAAAA', erasedAtMs: 1_764_000_000_123 };
  const { key, value } = encodeErasure(e);
  assert.deepEqual(decodeErasure(key, value), e);
  assert.equal(decodeErasure(key, Buffer.from('not json')), undefined);
  assert.equal(decodeErasure(key, Buffer.from('{"v":2,"erasedAtMs":1}')), undefined);
  assert.equal(decodeErasure(key, Buffer.from('{"v":1,"erasedAtMs":"1"}')), undefined);
  assert.equal(decodeErasure(null, value), undefined);
  assert.equal(decodeErasure(key, null), undefined);
});

test('the topic is compacted (the latest record per device is kept forever)', async (t) => {
  const topic = await freshTopic();
  const admin = new Admin({ clientId: 'erasure-test', bootstrapBrokers: [kafkaBootstrap()] });
  t.after(() => admin.close());
  const [described] = await admin.describeConfigs({
    resources: [
      {
        resourceType: ConfigResourceTypes.TOPIC,
        resourceName: topic,
        configurationKeys: ['cleanup.policy', 'retention.ms'],
      },
    ],
  });
  const config = new Map(described?.configs.map((c) => [c.name, c.value]));
  assert.equal(config.get('cleanup.policy'), 'compact');
});

test('a table started later reads every erasure acknowledged before it (survives restarts)', async (t) => {
  const topic = await freshTopic(3);
  const publisher = new ErasurePublisher({ connection: connection(), topic });
  t.after(() => publisher.close());
  const ids = Array.from({ length: 50 }, deviceId);
  await publisher.publish(ids.map((id, i) => ({ deviceId: id, erasedAtMs: 1_000 + i })));
  // A re-erasure of the same device supersedes the record (compaction keeps it), it is not a second entry.
  await publisher.publish([{ deviceId: ids[0] as string, erasedAtMs: 5_000 }]);

  for (let restart = 0; restart < 2; restart++) {
    const registry = new Registry();
    const table = new ErasureTable({ connection: connection(), topic, registry });
    await table.start();
    assert.equal(table.size, 50, `restart ${restart}`);
    const metrics = await registry.metrics();
    assert.match(metrics, /^footfall_erased_devices 50$/m);
    assert.match(metrics, /^footfall_erasure_log_healthy 1$/m);
    assert.ok(table.healthy);
    for (const id of ids) assert.ok(table.has(id), id);
    assert.equal(table.erasedAtMs(ids[0] as string), 5_000);
    assert.equal(table.erasedAtMs(ids[7] as string), 1_007);
    assert.equal(table.has(deviceId()), false);
    await table.close();
  }
});

test('a running table learns each new erasure live', async (t) => {
  const topic = await freshTopic();
  const table = new ErasureTable({ connection: connection(), topic });
  t.after(() => table.close());
  await table.start();
  assert.equal(table.size, 0);
  const publisher = new ErasurePublisher({ connection: connection(), topic });
  t.after(() => publisher.close());
  for (let i = 0; i < 3; i++) {
    const id = deviceId();
    const seen = table.waitFor(id, AbortSignal.timeout(30_000));
    const before = performance.now();
    await publisher.publish([{ deviceId: id, erasedAtMs: Date.now() }]);
    await seen;
    t.diagnostic(`erasure ${i} seen ${(performance.now() - before).toFixed(0)} ms after publish was sent`);
    assert.ok(table.has(id));
  }
  assert.equal(table.size, 3);
});

test('an unreadable record is skipped; the erasures after it are still enforced', async (t) => {
  const topic = await freshTopic();
  const producer = new Producer({ clientId: 'erasure-test', bootstrapBrokers: [kafkaBootstrap()] });
  t.after(() => producer.close());
  const good = deviceId();
  await producer.send({
    messages: [
      { topic, key: Buffer.from(deviceId()), value: Buffer.from('garbage') },
      { topic, key: Buffer.from(good), ...{ value: encodeErasure({ deviceId: good, erasedAtMs: 1 }).value } },
    ],
  });
  const table = new ErasureTable({ connection: connection(), topic });
  t.after(() => table.close());
  await table.start();
  assert.equal(table.size, 1);
  assert.ok(table.has(good));
});

test('start fails with ERASURE_TOPIC_MISSING when the topic does not exist', async (t) => {
  const table = new ErasureTable({
    connection: connection(),
    topic: `missing-${randomBytes(4).toString('hex')}`,
  });
  t.after(() => table.close());
  await assert.rejects(
    table.start(),
    (e: unknown) => e instanceof ErasureError && e.code === 'ERASURE_TOPIC_MISSING',
  );
});

test('reconcile: erasures recorded in PostgreSQL but missing from the log are published (outbox sweep)', async (t) => {
  const topic = await freshTopic();
  const temp = await createTemporaryDatabase();
  const db = await openDatabase({ url: temp.url });
  t.after(async () => {
    await db.close();
    await temp.drop();
  });
  const [published, lost, again] = [deviceId(), deviceId(), deviceId()];
  await db.query(
    `INSERT INTO erased_devices (device_id, erased_at) VALUES
       ($1, timestamptz 'epoch' + interval '1000 seconds'), ($2, timestamptz 'epoch' + interval '2000 seconds'),
       ($3, timestamptz 'epoch' + interval '3000 seconds')`,
    [published, lost, again],
  );
  const publisher = new ErasurePublisher({ connection: connection(), topic });
  t.after(() => publisher.close());
  // Only the first reached Kafka (the API died before the others were acknowledged).
  await publisher.publish([{ deviceId: published as string, erasedAtMs: 1_000_000 }]);
  const notifier = new ErasureNotifier({
    connection: connection(),
    topics: { ingestion: 'unused', aggregated: 'unused', erasures: topic },
  });
  t.after(() => notifier.close());
  assert.equal(await notifier.reconcile(db), 2);
  assert.equal(await notifier.reconcile(db), 0, 'a second sweep finds nothing missing');
  const table = new ErasureTable({ connection: connection(), topic });
  t.after(() => table.close());
  await table.start();
  assert.equal(table.size, 3);
  assert.equal(table.erasedAtMs(lost as string), 2_000_000);
  assert.equal(table.erasedAtMs(again as string), 3_000_000);
});

test('startInBackground: a service started before the topic exists loads the log once it appears', async (t) => {
  const topic = `erasures-${randomBytes(4).toString('hex')}`;
  const table = new ErasureTable({ connection: connection(), topic });
  t.after(() => table.close());
  table.startInBackground();
  assert.equal(table.loaded, false, 'not loaded: a caller must refuse work (fail closed)');
  await createTopics(kafkaBootstrap(), [erasuresTopicSpec(topic)]);
  const publisher = new ErasurePublisher({ connection: connection(), topic });
  t.after(() => publisher.close());
  const id = deviceId();
  await publisher.publish([{ deviceId: id, erasedAtMs: 1 }]);
  await table.whenLoaded();
  await table.waitFor(id, AbortSignal.timeout(30_000));
  assert.ok(table.loaded && table.has(id));
});
