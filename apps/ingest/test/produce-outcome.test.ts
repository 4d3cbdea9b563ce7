// "Definitely not written" vs "outcome unknown" (docs/ingest.md "Outcome of an upload"): the error
// classification against the Kafka client's own error classes, and the producer's answers against a
// real Kafka client (no broker needed: nothing listens on the address, so every send fails to connect).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '@footfall/observability';
import {
  MultipleErrors,
  NetworkError,
  ProtocolError,
  ResponseError,
  TimeoutError,
  UserError,
} from '@platformatic/kafka';
import { Registry } from 'prom-client';
import { IngestError } from '../src/errors.ts';
import { createIngestMetrics } from '../src/metrics.ts';
import { notWritten } from '../src/produce-outcome.ts';
import { type OutgoingRecord, PingProducer } from '../src/producer.ts';

const PRODUCE_API = 0;
const produceError = (codes: number[]) =>
  new ResponseError(
    PRODUCE_API,
    9,
    Object.fromEntries(
      codes.flatMap((c, j) => (c ? [[`/responses/0/partition_responses/${j}`, [c, null]]] : [])),
    ),
    { responses: [{ partitionResponses: codes.map((errorCode, index) => ({ index, errorCode })) }] },
  );

describe('notWritten', () => {
  test('failures before any request reached a broker are "not written"', () => {
    const refused = new NetworkError('Connection to 127.0.0.1:1 failed.', {
      cause: new Error('ECONNREFUSED'),
    });
    assert.equal(notWritten(refused), true);
    assert.equal(
      notWritten(new TimeoutError('Connection to 10.0.0.1:9092 timed out.', { canRetry: true })),
      true,
    );
    assert.equal(notWritten(new NetworkError('Connection closed while waiting for ready.')), true);
    assert.equal(notWritten(new NetworkError('Client is closed.')), true);
    assert.equal(notWritten(new UserError('Failed to serialize a message.')), true);
    // The client's retries: every attempt refused → still not written.
    assert.equal(
      notWritten(new MultipleErrors('produce failed 3 times.', [refused, refused, refused])),
      true,
    );
  });

  test('a connection lost or a request timed out with the produce in flight is "unknown"', () => {
    const closed = new NetworkError('Connection closed');
    const timedOut = new TimeoutError('Request timed out', { canRetry: true });
    const refused = new NetworkError('Connection to 127.0.0.1:1 failed.');
    assert.equal(notWritten(closed), false);
    assert.equal(notWritten(timedOut), false);
    assert.equal(notWritten(new NetworkError('Connection error', { cause: new Error('ECONNRESET') })), false);
    // The broker died after writing (first attempt), then refused the client's retries: unknown.
    assert.equal(
      notWritten(new MultipleErrors('produce failed 3 times.', [closed, refused, refused])),
      false,
    );
    assert.equal(notWritten(new MultipleErrors('Producing messages failed.', [])), false);
  });

  test('broker refusals: before append "not written"; after append or partial "unknown"', () => {
    const notLeader = 6;
    const requestTimedOut = 7;
    const afterAppend = 20;
    assert.equal(notWritten(produceError([notLeader, notLeader])), true);
    assert.equal(notWritten(new ProtocolError('NOT_ENOUGH_REPLICAS')), true);
    assert.equal(notWritten(produceError([requestTimedOut])), false);
    assert.equal(notWritten(produceError([afterAppend])), false);
    // Partition 1 refused, partition 0 appended.
    assert.equal(notWritten(produceError([0, notLeader])), false);
    // One leader answered, another failed: that one's records are written.
    const partial = Object.assign(
      new MultipleErrors('Producing messages failed.', [produceError([notLeader])]),
      {
        produced: { offsets: [{ topic: 't', partition: 0, offset: 5n }] },
      },
    );
    assert.equal(notWritten(partial), false);
  });

  test('anything it does not know is "unknown"', () => {
    assert.equal(notWritten(new Error('boom')), false);
    assert.equal(notWritten(undefined), false);
    assert.equal(notWritten(new NetworkError('Some new message')), false);
  });
});

describe('PingProducer answers', () => {
  const producer = (overrides: { lingerMs: number; maxRecords: number }) => {
    const metrics = createIngestMetrics(new Registry());
    return {
      metrics,
      producer: new PingProducer({
        connection: { kafkaBootstrap: ['127.0.0.1:1'] },
        topic: 'ingestion-outcome',
        produceTimeoutMs: 2_000,
        maxConcurrentSends: 1,
        maxInflight: 100,
        logger: createLogger('ingest-test', 'silent'),
        metrics,
        ...overrides,
      }),
    };
  };
  const record = (): OutgoingRecord => ({
    topic: 'ingestion-outcome',
    key: Buffer.from('k'),
    value: Buffer.from('v'),
    partition: 0,
    timestamp: 0n,
  });
  const codeOf = async (p: Promise<unknown>) => {
    const error = await p.then(
      () => assert.fail('send resolved'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof IngestError, String(error));
    return error.code;
  };

  test('no broker: INGEST_KAFKA_UNAVAILABLE (nothing written), reservation released', async () => {
    const { producer: p } = producer({ lingerMs: 0, maxRecords: 1 });
    try {
      assert.ok(p.admit(1));
      assert.equal(await codeOf(p.send([record()])), 'INGEST_KAFKA_UNAVAILABLE');
      assert.equal(p.inflight, 0);
    } finally {
      await p.close();
    }
  });

  test('timed out while still queued: withdrawn, INGEST_KAFKA_UNAVAILABLE', async () => {
    // lingerMs far beyond the test: the record stays queued until withdrawn.
    const { producer: p, metrics } = producer({ lingerMs: 600_000, maxRecords: 100 });
    try {
      const controller = new AbortController();
      assert.ok(p.admit(1));
      const sent = p.send([record()], controller.signal);
      assert.equal(p.inflight, 1);
      controller.abort(new Error('deadline'));
      assert.equal(await codeOf(sent), 'INGEST_KAFKA_UNAVAILABLE');
      assert.equal(p.inflight, 0, 'a withdrawn record gives its reservation back at once');
      assert.equal((await metrics.outcomeUnknown.get()).values.length, 0);
    } finally {
      await p.close();
    }
  });

  test('timed out once handed to Kafka: INGEST_OUTCOME_UNKNOWN, counted', async () => {
    const { producer: p, metrics } = producer({ lingerMs: 0, maxRecords: 1 });
    try {
      const controller = new AbortController();
      assert.ok(p.admit(1));
      const sent = p.send([record()], controller.signal); // maxRecords reached: handed over now
      controller.abort(new Error('deadline'));
      assert.equal(await codeOf(sent), 'INGEST_OUTCOME_UNKNOWN');
      const counted = (await metrics.outcomeUnknown.get()).values;
      assert.deepEqual(
        counted.map((v) => [v.labels.reason, v.value]),
        [['timeout', 1]],
      );
      await p.drain(); // the send itself still settles and releases its reservation
      assert.equal(p.inflight, 0);
    } finally {
      await p.close();
    }
  });
  test('a budget in ms that runs out while queued: withdrawn, INGEST_KAFKA_UNAVAILABLE', async () => {
    const { producer: p, metrics } = producer({ lingerMs: 600_000, maxRecords: 100 });
    try {
      assert.ok(p.admit(1));
      assert.equal(await codeOf(p.send([record()], 1)), 'INGEST_KAFKA_UNAVAILABLE');
      assert.equal(p.inflight, 0);
      assert.equal((await metrics.outcomeUnknown.get()).values.length, 0);
    } finally {
      await p.close();
    }
  });

  test('a budget in ms that runs out once handed to Kafka: INGEST_OUTCOME_UNKNOWN', async () => {
    // The send to the closed port fails only after the client's 200 ms retry delays; 1 ms is up first.
    const { producer: p, metrics } = producer({ lingerMs: 0, maxRecords: 1 });
    try {
      assert.ok(p.admit(1));
      assert.equal(await codeOf(p.send([record()], 1)), 'INGEST_OUTCOME_UNKNOWN');
      const counted = (await metrics.outcomeUnknown.get()).values;
      assert.deepEqual(
        counted.map((v) => [v.labels.reason, v.value]),
        [['timeout', 1]],
      );
      await p.drain();
      assert.equal(p.inflight, 0);
    } finally {
      await p.close();
    }
  });
  test('an infinite budget is no deadline (setTimeout would make it 1 ms)', async () => {
    const { producer: p, metrics } = producer({ lingerMs: 0, maxRecords: 1 });
    try {
      assert.ok(p.admit(1));
      assert.equal(await codeOf(p.send([record()], Number.POSITIVE_INFINITY)), 'INGEST_KAFKA_UNAVAILABLE');
      assert.equal((await metrics.outcomeUnknown.get()).values.length, 0);
    } finally {
      await p.close();
    }
  });
});
