import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { createTopics, startLocalBroker } from '@footfall/kafka';
import { kafkaBootstrap, waitFor } from '@footfall/testing';
import { Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka';

function jvmsUsing(dataDir: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', `^java .*kafka\\.Kafka ${dataDir}/`])
      .toString()
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

test('produces to and consumes from the real broker started by the global setup', async (t) => {
  const bootstrap = kafkaBootstrap();
  const topic = `roundtrip-${Date.now()}`;
  await createTopics(bootstrap, [{ name: topic, partitions: 2 }]);
  const producer = new Producer({
    clientId: 't',
    bootstrapBrokers: [bootstrap],
    serializers: stringSerializers,
  });
  t.after(() => producer.close());
  await producer.send({ messages: [{ topic, key: 'k', value: 'hello kafka', partition: 1 }], acks: -1 });
  const consumer = new Consumer({
    clientId: 't',
    groupId: `g-${topic}`,
    bootstrapBrokers: [bootstrap],
    deserializers: stringDeserializers,
  });
  t.after(() => consumer.close(true));
  const stream = await consumer.consume({ topics: [topic], mode: 'earliest' });
  for await (const message of stream) {
    assert.equal(message.value, 'hello kafka');
    assert.equal(message.partition, 1);
    break;
  }
  console.log(`[kafka] round trip through ${bootstrap} ok`);
});

test('close() stops the JVM and removes its temp data', async (t) => {
  const broker = await startLocalBroker();
  t.after(() => broker.close());
  const dataDir = broker.dataDir;
  console.log(
    `[kafka] warm start: format ${broker.timings.formatMs.toFixed(0)} ms, ready ${broker.timings.startMs.toFixed(0)} ms`,
  );
  assert.equal(jvmsUsing(dataDir).length, 1);
  await broker.close();
  assert.equal(broker.running, false);
  assert.deepEqual(jvmsUsing(dataDir), []);
});

test('killing the owning process with SIGKILL leaves no orphan JVM', async (t) => {
  const script = resolve(import.meta.dirname, 'fixtures/start-and-hang.ts');
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
  });
  const dataDir = await waitFor('the child to start a broker', () => out.match(/^READY (.+)$/m)?.[1], 60_000);
  assert.equal(jvmsUsing(dataDir).length, 1, 'the broker JVM runs');
  child.kill('SIGKILL');
  await waitFor(
    'the orphaned JVM to be stopped by its guardian',
    () => jvmsUsing(dataDir).length === 0,
    30_000,
  );
});
