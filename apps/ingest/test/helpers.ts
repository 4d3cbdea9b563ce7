import { randomUUID } from 'node:crypto';
import { type Ping, PingRecord } from '@footfall/contracts';
import { kafkaBootstrap } from '@footfall/testing';
import * as grpc from '@grpc/grpc-js';
import { Consumer } from '@platformatic/kafka';
import { type IngestConfig, loadIngestConfig } from '../src/config.ts';
import type { IngestError } from '../src/errors.ts';
import type { PingInput } from '../src/sdk/index.ts';

export const DEVICE_KEY_SECRET = 'test-device-key-secret-0123456789abcdef';
export const USER_TOKEN_SECRET = 'test-user-token-secret-0123456789abcdef';

/** A config for an in-process service on free ports against the test broker. */
export function testConfig(overrides: Partial<Record<keyof IngestConfig, unknown>> = {}): IngestConfig {
  return loadIngestConfig(
    {},
    {
      kafkaBootstrap: [kafkaBootstrap()],
      grpcHost: '127.0.0.1',
      grpcPort: 0,
      opsPort: 0,
      logLevel: 'silent',
      deviceKeySecret: DEVICE_KEY_SECRET,
      userTokenSecret: USER_TOKEN_SECRET,
      allowDevAttestation: true,
      ...overrides,
    },
  );
}

/** `n` valid pings around central Berlin, spread over several regions, event times in the last minutes. */
export function makePings(n: number, nowMs = Date.now()): PingInput[] {
  return Array.from({ length: n }, (_, i) => ({
    eventTimeMs: nowMs - 60_000 + i,
    latitude: 52.52 + ((i * 7) % 40) * 0.05 - 1,
    longitude: 13.405 + ((i * 13) % 40) * 0.05 - 1,
    accuracyM: 12,
  }));
}

export interface ReadRecord {
  key: string;
  partition: number;
  timestamp: bigint;
  value: PingRecord;
}

/**
 * Reads `topic` from the beginning until `done(records)` holds or `timeoutMs` passes (returns what it
 * has then). A fresh consumer group each call.
 */
export async function readTopic(
  topic: string,
  done: (records: ReadRecord[]) => boolean,
  timeoutMs = 20_000,
  bootstrap = kafkaBootstrap(),
): Promise<ReadRecord[]> {
  const consumer = new Consumer({
    groupId: `test-${randomUUID()}`,
    clientId: 'ingest-test',
    bootstrapBrokers: [bootstrap],
    maxWaitTime: 200,
  });
  const records: ReadRecord[] = [];
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    const timer = setTimeout(() => void stream.close(), timeoutMs);
    try {
      if (done(records)) return records;
      for await (const message of stream) {
        records.push({
          key: (message.key as Buffer).toString(),
          partition: message.partition,
          timestamp: message.timestamp,
          value: PingRecord.decode(message.value as Buffer),
        });
        if (done(records)) break;
      }
    } finally {
      clearTimeout(timer);
      await stream.close().catch(() => {});
    }
  } finally {
    await consumer.close(true).catch(() => {});
  }
  return records;
}

/** One unary call with raw request bytes (no client-side encoding): the status it ended with. */
export function rawUpload(
  port: number,
  body: Buffer,
  method = 'Upload',
  client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()),
): Promise<{ code: grpc.status; details: string; errorCode?: string }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      `/footfall.ingest.v1.IngestService/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (error) => {
        const value = error?.metadata?.get('footfall-error-code')[0];
        resolve({
          code: error ? error.code : grpc.status.OK,
          details: error?.details ?? '',
          ...(typeof value === 'string' ? { errorCode: value } : {}),
        });
      },
    );
  });
}

/** A fixed "now" for unit tests that build pings by hand. */
export const NOW = 1_750_000_000_000;

/** A valid ping one second before `nowMs`; `over` replaces fields. */
export const validPing = (nowMs: number, over: Partial<Ping> = {}): Ping => ({
  pingId: 'abcdefghijklmnop',
  eventTimeMs: nowMs - 1000,
  latitude: 52.5,
  longitude: 13.4,
  accuracyM: 10,
  activity: 0,
  ...over,
});

/** The IngestError code `fn` throws, or 'no error'. */
export const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    return (error as IngestError).code;
  }
  return 'no error';
};
