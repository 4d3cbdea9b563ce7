// PRIVACY_MODE reaches the processor's aggregator: in dp mode the emitted counts are contribution-bounded
// (packages/domain/test/bounding.test.ts checks the bounding itself).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ConfigError } from '@footfall/config';
import { occupancyKey } from '@footfall/contracts';
import { kafkaBootstrap, uniqueTopics, waitFor } from '@footfall/testing';
import { cellToLatLng, gridRingUnsafe, latLngToCell } from 'h3-js';
import { loadProcessorConfig, startProcessor } from '../src/index.ts';
import { producePings, readLatest, type TestPing, waitCaughtUp } from './helpers.ts';

test('PRIVACY_MODE and DP_MAX_CELLS_PER_BUCKET are validated processor config', () => {
  assert.equal(loadProcessorConfig({}).privacyMode, 'k-anonymity');
  const dp = loadProcessorConfig({ PRIVACY_MODE: 'dp', DP_MAX_CELLS_PER_BUCKET: '2' });
  assert.equal(dp.privacyMode, 'dp');
  assert.equal(dp.dpMaxCellsPerBucket, 2);
  assert.throws(() => loadProcessorConfig({ PRIVACY_MODE: 'differential' }), ConfigError);
  assert.throws(() => loadProcessorConfig({ PRIVACY_MODE: 'dp', DP_MAX_CELLS_PER_BUCKET: '0' }), ConfigError);
});

test('PRIVACY_MODE=dp on the real broker: a device in two cells of one bucket counts in one (C = 1)', async (t) => {
  const T0 = Date.UTC(2025, 0, 15, 9);
  const X = latLngToCell(48.8566, 2.3522, 10);
  const Y = gridRingUnsafe(X, 5)[0] as string; // same region, far beyond the jitter ring
  const [ylat, ylng] = cellToLatLng(Y);
  // One device alternates X, Y every 10 s inside the bucket [T0, T0 + 60 s); a second device sits in Y.
  const pings: TestPing[] = Array.from({ length: 6 }, (_, i) => ({
    deviceId: 'D',
    pingId: `d${i}`,
    eventTimeMs: T0 + i * 10_000,
    cell: i % 2 === 0 ? X : Y,
    accuracyM: 10,
    latitude: i % 2 === 0 ? 48.8566 : ylat,
    longitude: i % 2 === 0 ? 2.3522 : ylng,
  }));
  pings.push({ ...(pings[1] as TestPing), deviceId: 'E', pingId: 'e1' });
  const run = async (mode: 'k-anonymity' | 'dp') => {
    const topics = await uniqueTopics(2);
    const groupId = `g-dp-${randomBytes(4).toString('hex')}`;
    const handle = await startProcessor(
      loadProcessorConfig({
        KAFKA_BOOTSTRAP: kafkaBootstrap(),
        TOPIC_INGESTION: topics.ingestion,
        TOPIC_AGGREGATED: topics.aggregated,
        GROUP_ID: groupId,
        INSTANCE_ID: `dp-${randomBytes(3).toString('hex')}`,
        OPS_PORT: '0',
        LOG_LEVEL: 'warn',
        EMIT_INTERVAL_MS: '100',
        PRIVACY_MODE: mode,
        DP_MAX_CELLS_PER_BUCKET: '1',
      }),
    );
    t.after(() => handle.close());
    await producePings(kafkaBootstrap(), topics.ingestion, pings, 2);
    await waitCaughtUp(kafkaBootstrap(), topics.ingestion, groupId);
    const latest = await waitFor('occupancy of X and Y', async () => {
      const view = await readLatest(kafkaBootstrap(), topics.aggregated);
      const x = view.get(occupancyKey({ cell: X, bucketStartMs: T0 }))?.occupancy;
      const y = view.get(occupancyKey({ cell: Y, bucketStartMs: T0 }))?.occupancy;
      return x && y ? { x: x.devices, y: y.devices } : undefined;
    });
    await handle.close();
    return latest;
  };
  assert.deepEqual(await run('k-anonymity'), { x: 1, y: 2 }, 'D counts in both cells');
  assert.deepEqual(await run('dp'), { x: 1, y: 1 }, 'D counts only where its first stay started (X)');
});
