// Overload (issue 20 item 5): a refusal is answered when the call's headers arrive, before its body is
// read. 300 concurrent calls on ONE HTTP/2 connection, each sending only the start of its message and
// never ending it, all get RESOURCE_EXHAUSTED INGEST_OVERLOADED with the retry hint. Before admission
// moved ahead of the body (src/admission.ts), grpc-js waited for each whole message before the handler
// could refuse it: none of them was answered.
// Deterministic: the one admitted upload is held at the producer (its send waits on a gate), so the
// limit is reached without timing; the calls' bodies never end, so only an early answer can arrive.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, test } from 'node:test';
import { uniqueTopics, waitFor } from '@footfall/testing';
import * as grpc from '@grpc/grpc-js';
import type { OutgoingRecord } from '../src/producer.ts';
import { DeviceClient } from '../src/sdk/index.ts';
import { ERROR_CODE_HEADER, INGEST_SERVICE_NAME, RETRY_AFTER_HEADER } from '../src/server.ts';
import { type IngestHandle, startIngest } from '../src/service.ts';
import { makePings, testConfig } from './helpers.ts';

const RETRY_AFTER_MS = 640;
const STREAMS = 300;
let ingest: IngestHandle;
const clients: DeviceClient[] = [];

before(async () => {
  ingest = await startIngest(
    testConfig({
      topicIngestion: (await uniqueTopics(3)).ingestion,
      maxInflightUploads: 1,
      overloadRetryAfterMs: RETRY_AFTER_MS,
      produceTimeoutMs: 120_000,
    }),
  );
});
after(async () => {
  for (const c of clients) c.close();
  await ingest?.close();
});

interface Answer {
  status?: string;
  errorCode?: string;
  retryAfterMs?: string;
  rstCode?: number;
}

/**
 * Opens an Upload stream that sends 5 bytes of a message announcing 1 000 and never ends it. Gives up
 * after `boundMs` (the failure bound when no answer comes: the test fails, it never waits for success).
 */
function unfinishedCall(session: http2.ClientHttp2Session, boundMs = 15_000): Promise<Answer> {
  return new Promise((resolve) => {
    const stream = session.request(
      {
        ':method': 'POST',
        ':path': `/${INGEST_SERVICE_NAME}/Upload`,
        'content-type': 'application/grpc',
        te: 'trailers',
      },
      { endStream: false },
    );
    const prefix = Buffer.alloc(10);
    prefix.writeUInt32BE(1_000, 1);
    stream.write(prefix);
    const fromHeaders = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] === undefined) return;
      resolve({
        status: String(h['grpc-status']),
        errorCode: h[ERROR_CODE_HEADER] as string,
        retryAfterMs: h[RETRY_AFTER_HEADER] as string,
      });
      stream.close(http2.constants.NGHTTP2_CANCEL);
    };
    const bound = setTimeout(() => {
      resolve({});
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }, boundMs);
    stream.on('close', () => clearTimeout(bound));
    stream.on('response', fromHeaders);
    stream.on('trailers', fromHeaders);
    stream.on('error', () => {});
    stream.on('close', () => resolve({ rstCode: stream.rstCode }));
  });
}

test(`beyond INGEST_MAX_INFLIGHT_UPLOADS, ${STREAMS} calls on one connection are all refused with the hint before their bodies are read`, async () => {
  // Its deadline outlasts the failure bound of the calls below (the held upload must not time out).
  const device = new DeviceClient({
    target: `127.0.0.1:${ingest.port}`,
    maxAttempts: 1,
    deadlineMs: 120_000,
  });
  clients.push(device);
  await device.enroll();

  // Hold the producer: the one admitted upload stays in progress, so the limit (1) is reached.
  const producer = ingest.producer;
  const realSend = producer.send.bind(producer);
  const gate = Promise.withResolvers<void>();
  let held = 0;
  producer.send = (records: OutgoingRecord[]) => {
    held++;
    return gate.promise.then(() => realSend(records));
  };
  const admitted = device.upload(makePings(10));
  admitted.catch(() => {}); // awaited below; a failure before then must not be unhandled
  await waitFor('the admitted upload held at the producer', () => held === 1, 30_000, 10);

  const session = http2.connect(`http://127.0.0.1:${ingest.port}`);
  session.on('error', () => {});
  try {
    const answers = await Promise.all(Array.from({ length: STREAMS }, () => unfinishedCall(session)));
    const wrong = answers.filter(
      (a) =>
        a.status !== String(grpc.status.RESOURCE_EXHAUSTED) ||
        a.errorCode !== 'INGEST_OVERLOADED' ||
        a.retryAfterMs !== String(RETRY_AFTER_MS),
    );
    assert.deepEqual(wrong.slice(0, 3), [], `${wrong.length} of ${STREAMS} calls without our status + hint`);
  } finally {
    session.destroy();
    gate.resolve();
  }
  assert.equal(held, 1, 'no refused call reached the producer');

  // The refusals are counted like the handler's, and the held upload completes once Kafka answers.
  const metrics = await (await fetch(`http://127.0.0.1:${ingest.opsPort}/metrics`)).text();
  const refused = metrics.match(
    /footfall_ingest_requests_total\{[^}]*method="Upload"[^}]*code="RESOURCE_EXHAUSTED"[^}]*\} (\d+)/,
  );
  assert.ok(Number(refused?.[1]) >= STREAMS, `refusals counted: ${refused?.[0]}`);
  assert.equal((await admitted).accepted, 10);
});
