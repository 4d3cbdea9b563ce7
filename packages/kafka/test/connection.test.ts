import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kafkaClientOptions } from '@footfall/kafka';

test('client options carry SASL and TLS only when configured', () => {
  assert.deepEqual(kafkaClientOptions({ kafkaBootstrap: ['a:1'] }, 'c'), {
    clientId: 'c',
    bootstrapBrokers: ['a:1'],
  });
  const secured = kafkaClientOptions(
    {
      kafkaBootstrap: ['a:1', 'b:2'],
      kafkaSaslMechanism: 'SCRAM-SHA-512',
      kafkaSaslUsername: 'u',
      kafkaSaslPassword: 'p',
      kafkaTls: true,
    },
    'c',
  );
  assert.deepEqual(secured.sasl, { mechanism: 'SCRAM-SHA-512', username: 'u', password: 'p' });
  assert.deepEqual(secured.tls, {});
  assert.deepEqual(secured.bootstrapBrokers, ['a:1', 'b:2']);
});
