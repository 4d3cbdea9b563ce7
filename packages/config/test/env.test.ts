import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, commonSpec, loadConfig, v } from '@footfall/config';

test('defaults apply and the result is frozen', () => {
  const config = loadConfig(commonSpec, {});
  assert.equal(config.bucketMs, 60_000);
  assert.deepEqual(config.kafkaBootstrap, ['127.0.0.1:9092']);
  assert.ok(Object.isFrozen(config));
});

test('values are parsed from strings', () => {
  const config = loadConfig(commonSpec, { BUCKET_MS: '30000', KAFKA_BOOTSTRAP: 'a:1, b:2' });
  assert.equal(config.bucketMs, 30_000);
  assert.deepEqual(config.kafkaBootstrap, ['a:1', 'b:2']);
});

test('every bad variable is named in one error', () => {
  assert.throws(
    () => loadConfig(commonSpec, { BUCKET_MS: 'soon', CELL_RESOLUTION: '16', LOG_LEVEL: 'loud' }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.problems.length, 3);
      assert.match(error.message, /BUCKET_MS="soon": must be an integer/);
      assert.match(error.message, /CELL_RESOLUTION="16"/);
      assert.match(error.message, /LOG_LEVEL="loud"/);
      return true;
    },
  );
});

test('a required variable without default is reported', () => {
  assert.throws(
    () => loadConfig({ secret: v.string('SECRET', undefined, 'the secret') }, {}),
    /SECRET is required/,
  );
});

test('Kafka SASL settings are part of every service config and validated', () => {
  const config = loadConfig(commonSpec, {
    KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
    KAFKA_SASL_USERNAME: 'footfall-ingest',
    KAFKA_SASL_PASSWORD: 'secret',
  });
  assert.equal(config.kafkaSaslMechanism, 'SCRAM-SHA-512');
  assert.equal(config.kafkaSaslUsername, 'footfall-ingest');
  assert.throws(
    () => loadConfig(commonSpec, { KAFKA_SASL_MECHANISM: 'GSSAPI' }),
    /KAFKA_SASL_MECHANISM="GSSAPI"/,
  );
});
