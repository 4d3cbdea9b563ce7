import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Database, openDatabase } from '@footfall/db';
import { bucketStart, cellOf } from '@footfall/domain';
import {
  createTemporaryDatabase,
  kafkaBootstrap,
  occRecord,
  produce,
  type TemporaryDatabase,
  tombstone,
  uniqueTopics,
  visitRecord,
  waitFor,
} from '@footfall/testing';
import { loadSinkConfig, PartitionManager, parseKey, planBatch, type Sink, startSink } from '../src/index.ts';

const silent = { level: 'silent' } as const;
const DAY = 86_400_000;

describe('planBatch / parseKey', () => {
  it('keeps the last value per key and turns a tombstone into a delete', () => {
    const cell = cellOf(52.52, 13.405);
    const plan = planBatch([
      occRecord({ cell, bucketStartMs: 60_000, devices: 9 }),
      occRecord({ cell, bucketStartMs: 60_000, devices: 4 }),
      visitRecord({ deviceId: 'd:1', cell, startMs: 1000, endMs: 2000 }),
      tombstone({ deviceId: 'd:1', cell, startMs: 1000 }),
      visitRecord({ deviceId: 'd2', cell, startMs: 1000, endMs: 2000 }),
      tombstone({ deviceId: 'd2', cell, startMs: 1000 }),
      visitRecord({ deviceId: 'd2', cell, startMs: 1000, endMs: 3000 }),
      { key: Buffer.from('garbage'), value: Buffer.from('x') },
      { key: Buffer.from(`occ:${cell}:1`), value: Buffer.from([0xff, 0xff, 0xff]) },
    ]);
    assert.equal(plan.occupancy.length, 1);
    assert.equal(plan.occupancy[0]?.devices, 4);
    assert.deepEqual(plan.deletes, [{ deviceId: 'd:1', cell, startMs: 1000 }]);
    assert.equal(plan.visits.length, 1);
    assert.equal(plan.visits[0]?.endMs, 3000);
    assert.equal(plan.invalid, 2);
  });
  it('parses device ids containing colons', () => {
    const k = parseKey('visit:a:b:8a1f:5');
    assert.deepEqual(k, { kind: 'visit', deviceId: 'a:b', cell: '8a1f', startMs: 5 });
    assert.equal(parseKey('visit::x:5'), undefined);
    assert.equal(parseKey('occ:x:y'), undefined);
  });
});

describe('sink on real Kafka + PostgreSQL', () => {
  let tmp: TemporaryDatabase;
  let db: Database;
  let topic: string;
  let sink: Sink;
  const bootstrap = () => kafkaBootstrap();
  const cellA = cellOf(52.52, 13.405);
  const cellB = cellOf(48.8566, 2.3522);
  const b0 = bucketStart(Date.now() - 2 * 3600_000, 60_000);

  const config = (groupId: string) =>
    loadSinkConfig(
      {},
      {
        kafkaBootstrap: [bootstrap()],
        topicAggregated: topic,
        groupId,
        opsPort: 0,
        flushIntervalMs: 50,
        logLevel: 'silent',
      },
    );

  before(async () => {
    tmp = await createTemporaryDatabase();
    db = await openDatabase({ url: tmp.url });
    topic = (await uniqueTopics()).aggregated;
    await db.query(`INSERT INTO erased_devices (device_id) VALUES ('erased-dev')`);
    sink = await startSink(config(`footfall-sink-test-${topic}`), {
      db,
      logger: (await import('pino')).pino(silent),
    });
  });
  after(async () => {
    await sink?.close();
    await db?.close();
    await tmp?.drop();
  });

  const occRows = () =>
    db.query<{ cell: string; b: number; devices: number; pings: number; updated_at: Date }>(
      `SELECT cell, (extract(epoch FROM bucket_start) * 1000)::bigint AS b, devices, pings, updated_at
         FROM occupancy ORDER BY cell, bucket_start`,
    );
  const visitRows = () =>
    db.query<{ device_id: string; cell: string; s: number; e: number; closed: boolean; updated_at: Date }>(
      `SELECT device_id, cell, (extract(epoch FROM start_at) * 1000)::bigint AS s,
              (extract(epoch FROM end_at) * 1000)::bigint AS e, closed, updated_at
         FROM visits ORDER BY device_id, cell, start_at`,
    );

  it('upserts latest values, applies tombstones, skips erased devices, survives garbage', async () => {
    await produce(
      bootstrap(),
      topic,
      [
        occRecord({ cell: cellA, bucketStartMs: b0, devices: 9 }),
        visitRecord({ deviceId: 'dev-1', cell: cellA, startMs: b0, endMs: b0 + 300_000 }),
        visitRecord({ deviceId: 'dev-2', cell: cellB, startMs: b0, endMs: b0 + 400_000 }),
        visitRecord({ deviceId: 'erased-dev', cell: cellA, startMs: b0, endMs: b0 + 400_000 }),
      ],
      { transactional: true },
    );
    await produce(bootstrap(), topic, [
      { key: Buffer.from('nonsense'), value: Buffer.from('zzz'), region: '85283473fffffff' },
      // counts may go down; visits may shrink; tombstone withdraws dev-2's visit
      occRecord({ cell: cellA, bucketStartMs: b0, devices: 4, pings: 11 }),
      occRecord({ cell: cellB, bucketStartMs: b0 + 60_000, devices: 6 }),
      visitRecord({ deviceId: 'dev-1', cell: cellA, startMs: b0, endMs: b0 + 200_000, closed: true }),
      tombstone({ deviceId: 'dev-2', cell: cellB, startMs: b0 }),
    ]);
    await waitFor('rows', async () => {
      const o = await occRows();
      const v = await visitRows();
      return (
        o.rows.length === 2 && o.rows.some((r) => r.devices === 4) && v.rows.length === 1 && v.rows[0]?.closed
      );
    });
    const o = await occRows();
    const byCell = new Map(o.rows.map((r) => [r.cell, r]));
    assert.equal(byCell.get(cellA)?.devices, 4);
    assert.equal(byCell.get(cellA)?.pings, 11);
    assert.equal(byCell.get(cellA)?.b, b0);
    assert.equal(byCell.get(cellB)?.devices, 6);
    const v = await visitRows();
    assert.deepEqual(
      v.rows.map((r) => [r.device_id, r.cell, r.s, r.e, r.closed]),
      [['dev-1', cellA, b0, b0 + 200_000, true]],
    );
    // Offsets were committed only after the rows: give the commit a moment, then check the group.
    await waitFor(
      'offsets committed',
      async () => ((await sink.metrics.lastCommitMs.get()).values[0]?.value ?? 0) > 0,
    );
  });

  it('replaying the topic with a new group leaves identical rows (updated_at included)', async () => {
    const before = { o: (await occRows()).rows, v: (await visitRows()).rows };
    const replay = await startSink(config(`footfall-sink-replay-${topic}`), {
      db,
      logger: (await import('pino')).pino(silent),
    });
    try {
      await waitFor('replay consumed', async () => {
        const m = await replay.metrics.recordsRead.get();
        return (m.values[0]?.value ?? 0) >= 9; // 9 records were produced before this test
      });
    } finally {
      // close() writes everything already read and commits it: no need to wait for the last batch.
      await replay.close();
    }
    // The replay really wrote (re-applied) the records: otherwise "identical rows" would prove nothing.
    const written = (await replay.metrics.records.get()).values
      .filter((v) => v.labels.outcome !== 'invalid' && v.labels.outcome !== 'expired')
      .reduce((sum, v) => sum + v.value, 0);
    assert.ok(written > 0, 'the replaying sink wrote rows');
    assert.deepEqual((await occRows()).rows, before.o);
    assert.deepEqual((await visitRows()).rows, before.v);
  });

  it('serves /readyz and /metrics on the ops port', async () => {
    const ready = await fetch(`http://127.0.0.1:${sink.opsPort}/readyz`);
    assert.equal(ready.status, 200);
    const body = (await ready.json()) as { checks: Record<string, boolean> };
    assert.equal(body.checks.database, true);
    assert.equal(body.checks.kafka, true);
    const metrics = await (await fetch(`http://127.0.0.1:${sink.opsPort}/metrics`)).text();
    assert.match(metrics, /footfall_sink_records_total\{[^}]*outcome="occupancy"/);
  });

  it('creates daily partitions ahead and drops expired ones; drops records past retention', async () => {
    const pm = new PartitionManager(db);
    const today = Math.floor(Date.now() / DAY);
    await pm.ensure('occupancy', [today - 45]);
    await pm.ensure('visits', [today - 31]);
    const { dropped } = await sink.runRetention();
    assert.deepEqual(dropped.sort(), [
      `occupancy_p${new Date((today - 45) * DAY).toISOString().slice(0, 10).replaceAll('-', '')}`,
      `visits_p${new Date((today - 31) * DAY).toISOString().slice(0, 10).replaceAll('-', '')}`,
    ]);
    const names = (await pm.list()).map((p) => p.day);
    for (const d of [today, today + 1, today + 2]) assert.ok(names.includes(d), `partition for day ${d}`);
    // An expired record does not recreate a dropped partition.
    await produce(bootstrap(), topic, [
      occRecord({ cell: cellA, bucketStartMs: (today - 40) * DAY, devices: 7 }),
    ]);
    await waitFor('expired counted', async () => {
      const m = await sink.metrics.records.get();
      return m.values.some((x) => x.labels.outcome === 'expired' && x.value >= 1);
    });
    assert.ok(!(await pm.list()).some((p) => p.day === today - 40));
  });
});
