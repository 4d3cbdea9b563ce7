// Ingest hot-path micro-benchmark: `./node_modules/.bin/node bench/ingest-hotpath.ts` (not part of
// `npm run bench`). One thread, no sockets: CPU time per ping of what the service does between the
// gRPC handler and the Kafka client (HMAC check, decode, validate, H3 cell + region, PingRecord
// encode), for the current code and for the generic generated-codec path it replaced. On a shared,
// noisy machine this is the stable number (thread CPU time, not wall time); bench/ingest.ts gives the
// end-to-end picture. Also the per-upload cost of bounding the wait for Kafka (AbortSignal.timeout vs
// a cleared timer). BENCH_HOTPATH_BATCHES (default 4 000 batches of 50 pings).

import { createHmac } from 'node:crypto';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { type Ping, PingBatch, PingRecord } from '@footfall/contracts';
import { prepareBatch, RegionRouter, UploadAuthenticator } from '@footfall/ingest';
import { createKeyring, deriveDeviceSecret, signBatch } from '@footfall/ingest/credentials';
import { javaPartition } from '@footfall/kafka';
import { mulberry32 } from '@footfall/testing';
import { cellToParent, latLngToCell } from 'h3-js';

const BATCHES = Number(process.env.BENCH_HOTPATH_BATCHES ?? 4_000);
const PINGS = 50;
const NOW = Date.now();
const random = mulberry32(15);
const keyring = createKeyring('k1', 'bench-device-key-secret-0123456789abcdef');
const deviceId = 'k1.AbCdEfGhIjKlMnOpQrStUv';
const secret = deriveDeviceSecret(keyring, deviceId) as Buffer;
const limits = { maxBatchPings: 500, maxClockSkewMs: 60_000, maxPingAgeMs: 48 * 3_600_000 };

const batches = Array.from({ length: BATCHES }, (_, b) => {
  const pings: Ping[] = Array.from({ length: PINGS }, (_, i) => ({
    pingId: `${String(b).padStart(8, '0')}-${String(i).padStart(4, '0')}-abcdefghij`,
    eventTimeMs: NOW - i * 1000,
    latitude: 52.52 + (random() - 0.5) * 0.4,
    longitude: 13.405 + (random() - 0.5) * 0.6,
    accuracyM: 10 + random() * 20,
    activity: 0,
  }));
  const bytes = Buffer.from(
    PingBatch.encode({
      deviceId,
      nonce: `nonce-${String(b).padStart(12, '0')}`,
      sentAtMs: NOW,
      pings,
    }).finish(),
  );
  return { bytes, signature: signBatch(secret, bytes) };
});

function cpuMicros(fn: () => void): number {
  const start = process.cpuUsage();
  fn();
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

/** The current service path. */
function current(): void {
  const auth = new UploadAuthenticator({
    keyring,
    replayWindowMs: 300_000,
    clockSkewMs: 60_000,
    nonceCacheMax: 1e7,
  });
  const ctx = {
    topic: 'ingestion',
    cellResolution: 10,
    limits,
    router: new RegionRouter({ cellResolution: 10, regionResolution: 5 }),
  };
  let records = 0;
  for (const { bytes, signature } of batches) {
    const { header, bytes: b } = auth.authenticate(deviceId, bytes, signature, NOW);
    records += prepareBatch(b, header.pingRanges, deviceId, NOW, 6, ctx).records.length;
  }
  if (records !== BATCHES * PINGS) throw new Error(`current: ${records} records`);
}

/** The replaced path: generated decode of every ping, generated PingRecord encode, cellToParent per ping. */
function generic(): void {
  const writer = new BinaryWriter();
  const regions = new Map<string, { key: Buffer; partition: number }>();
  let records = 0;
  for (const { bytes, signature } of batches) {
    if (!createHmac('sha256', secret).update(bytes).digest().equals(signature)) throw new Error('signature');
    const batch = PingBatch.decode(bytes);
    const seen = new Set<string>();
    for (const ping of batch.pings) {
      if (!/^[A-Za-z0-9_-]{16,64}$/.test(ping.pingId) || seen.has(ping.pingId)) continue;
      seen.add(ping.pingId);
      const cell = latLngToCell(ping.latitude as number, ping.longitude as number, 10);
      const region = cellToParent(cell, 5);
      let route = regions.get(region);
      if (!route) {
        route = { key: Buffer.from(region), partition: javaPartition(region, 6) };
        regions.set(region, route);
      }
      const out = PingRecord.encode(
        {
          pingId: ping.pingId,
          deviceId,
          eventTimeMs: ping.eventTimeMs,
          receivedAtMs: NOW,
          latitude: ping.latitude as number,
          longitude: ping.longitude as number,
          accuracyM: ping.accuracyM,
          cell,
          activity: ping.activity,
        },
        writer,
      ).finish();
      if (out.length > 0) records++;
    }
  }
  if (records !== BATCHES * PINGS) throw new Error(`generic: ${records} records`);
}

// Warm up both (JIT), then alternate rounds so that neighbour load hits both alike; report medians.
current();
generic();
const rounds: Record<string, number[]> = { current: [], generic: [] };
for (let round = 0; round < 7; round++) {
  rounds.current?.push(cpuMicros(current) / (BATCHES * PINGS));
  rounds.generic?.push(cpuMicros(generic) / (BATCHES * PINGS));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/**
 * Per upload, the handler bounds its wait for Kafka. CPU µs per upload of the two ways: an
 * AbortSignal.timeout (its timer cannot be cleared: it fires after the upload was answered and builds
 * a DOMException) vs a budget in ms (one timer, cleared when the send settles). Includes the firing.
 */
async function deadlineMicros(kind: 'signal' | 'timer'): Promise<number> {
  const n = 20_000;
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    if (kind === 'signal') {
      const signal = AbortSignal.timeout(20);
      const onAbort = () => {};
      signal.addEventListener('abort', onAbort, { once: true });
      signal.removeEventListener('abort', onAbort);
    } else clearTimeout(setTimeout(() => {}, 20).unref());
  }
  await new Promise((resolve) => setTimeout(resolve, 200)); // every signal's timer has fired
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}
const deadline: Record<'signal' | 'timer', number[]> = { signal: [], timer: [] };
for (let round = 0; round < 5; round++) {
  deadline.signal.push(await deadlineMicros('signal'));
  deadline.timer.push(await deadlineMicros('timer'));
}
const result = {
  pingsPerRound: BATCHES * PINGS,
  currentMicrosPerPing: median(rounds.current ?? []),
  genericMicrosPerPing: median(rounds.generic ?? []),
  perUploadDeadlineMicros: {
    abortSignalTimeout: median(deadline.signal),
    clearedTimer: median(deadline.timer),
  },
  loadavg: (await import('node:os')).loadavg(),
};
console.log(JSON.stringify(result));
