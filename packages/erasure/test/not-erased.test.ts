import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AGGREGATED_TAIL_MS,
  deletedByMs,
  INGESTION_TAIL_MS,
  notErasedReport,
  RETENTION_CHECK_INTERVAL_MS,
  type TopicRetention,
} from '@footfall/erasure';

const H = 3_600_000;
const ingestion: TopicRetention = {
  topic: 'ingestion',
  retentionMs: 3 * H,
  segmentMs: H / 4,
  cleanupPolicy: 'delete',
};
const aggregated: TopicRetention = {
  topic: 'aggregated',
  retentionMs: 168 * H,
  segmentMs: H,
  cleanupPolicy: 'compact,delete',
};

test('deletedByMs: retention + one segment + one broker check; null when nothing deletes by time', () => {
  assert.equal(deletedByMs(ingestion, 1_000), 1_000 + 3 * H + H / 4 + RETENTION_CHECK_INTERVAL_MS);
  assert.equal(deletedByMs({ ...ingestion, retentionMs: null }, 1_000), null);
  assert.equal(deletedByMs({ ...ingestion, cleanupPolicy: 'compact' }, 1_000), null);
});

test('notErased: every place that keeps something, with the time it is gone at the latest', () => {
  const erasedAtMs = 1_764_000_000_000;
  const report = notErasedReport({ erasedAtMs, ingestion, aggregated, erasuresTopic: 'erasures' });
  const by = new Map(report.map((r) => [r.data, r]));
  assert.deepEqual(
    [...by.keys()],
    ['kafka:ingestion', 'kafka:aggregated', 'occupancy', 'erasure-record', 'backups'],
  );
  assert.equal(by.get('kafka:ingestion')?.untilMs, deletedByMs(ingestion, erasedAtMs + INGESTION_TAIL_MS));
  assert.equal(by.get('kafka:aggregated')?.untilMs, deletedByMs(aggregated, erasedAtMs + AGGREGATED_TAIL_MS));
  assert.match(by.get('kafka:ingestion')?.reason ?? '', /retention\.ms 3 h \+ segment\.ms 15 min/);
  for (const kept of ['occupancy', 'erasure-record', 'backups']) assert.equal(by.get(kept)?.untilMs, null);
  // A topic that keeps pings forever is reported as such, not with a made-up date.
  const forever = notErasedReport({
    erasedAtMs,
    ingestion: { ...ingestion, retentionMs: null },
    aggregated,
    erasuresTopic: 'erasures',
  });
  assert.equal(forever[0]?.untilMs, null);
  assert.match(forever[0]?.reason ?? '', /kept indefinitely/);
});
