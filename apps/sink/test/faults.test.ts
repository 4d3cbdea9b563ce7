// Regressions of issue 20 against the real broker and PostgreSQL:
// - defect 1: after a broker outage the sink's stream died (`fetch failed 4 times`) and it never read
//   again while /healthz stayed ok;
// - defect 2: pg_terminate_backend of a batch in flight crashed the sink (unhandled 'error' event);
// - liveness: /healthz fails while the sink has lag and does not advance, and recovers after.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ERASURE_LOCK_KEY } from '@footfall/db';
import { bucketStart, cellOf } from '@footfall/domain';
import { createTopics, type LocalBroker, startLocalBroker } from '@footfall/kafka';
import {
  createTemporaryDatabase,
  killBroker,
  occRecord,
  produce,
  type TemporaryDatabase,
  visitRecord,
  waitFor,
} from '@footfall/testing';
import pg from 'pg';
import { pino } from 'pino';
import { loadSinkConfig, type Sink, startSink } from '../src/index.ts';

interface LogLine {
  level: number;
  msg: string;
}

function capturingLogger() {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: 'info' },
    {
      write: (line: string) => {
        lines.push(JSON.parse(line) as LogLine);
      },
    },
  );
  return { logger, lines };
}

const cell = cellOf(52.52, 13.405);
const b0 = bucketStart(Date.now() - 3600_000, 60_000);

async function health(sink: Sink) {
  const res = await fetch(`http://127.0.0.1:${sink.opsPort}/healthz`);
  return { status: res.status, body: (await res.json()) as { checks: Record<string, unknown> } };
}

describe('sink under faults (private broker, real PostgreSQL)', () => {
  let broker: LocalBroker;
  let tmp: TemporaryDatabase;
  const topic = `aggregated-faults-${randomBytes(3).toString('hex')}`;
  const sinks: Sink[] = [];

  const start = async (overrides: Record<string, unknown> = {}) => {
    const { logger, lines } = capturingLogger();
    const config = loadSinkConfig(
      {},
      {
        kafkaBootstrap: [broker.bootstrap],
        topicAggregated: topic,
        databaseUrl: tmp.url,
        groupId: `sink-faults-${randomBytes(3).toString('hex')}`,
        instanceId: `sink-faults-${randomBytes(3).toString('hex')}`,
        opsPort: 0,
        flushIntervalMs: 20,
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 500,
        ...overrides,
      },
    );
    const sink = await startSink(config, { logger });
    sinks.push(sink);
    return { sink, lines };
  };

  const occupancy = async (admin: pg.Client, bucket: number) =>
    (
      await admin.query<{ devices: number }>(
        `SELECT devices FROM occupancy WHERE cell = $1 AND bucket_start = to_timestamp($2 / 1000.0)`,
        [cell, bucket],
      )
    ).rows[0]?.devices;

  let admin: pg.Client;
  before(async () => {
    broker = await startLocalBroker({ topics: [{ name: topic, partitions: 3 }] });
    tmp = await createTemporaryDatabase();
    admin = new pg.Client({ connectionString: tmp.url });
    await admin.connect();
  });
  after(async () => {
    for (const sink of sinks) await sink.close().catch(() => {});
    await admin?.end();
    await tmp?.drop();
    await broker?.close();
  });

  it('keeps consuming after the broker is killed (-9) and restarted on the same data', async () => {
    const { sink, lines } = await start();
    await produce(broker.bootstrap, topic, [occRecord({ cell, bucketStartMs: b0, devices: 7 })], {
      partitions: 3,
    });
    await waitFor('the first record written', async () => (await occupancy(admin, b0)) === 7);

    await killBroker(broker);
    // The stream gives up while the broker is away (it used to stay dead after this).
    await waitFor(
      'the consumer stream to fail',
      () => lines.some((l) => /consumer stream/.test(l.msg)),
      120_000,
    );
    const downAt = Date.now();
    await broker.restart();
    await createTopics(broker.bootstrap, [{ name: topic, partitions: 3 }]);
    await produce(broker.bootstrap, topic, [occRecord({ cell, bucketStartMs: b0 + 60_000, devices: 9 })], {
      partitions: 3,
    });
    await waitFor(
      'a record produced after the restart to be written',
      async () => (await occupancy(admin, b0 + 60_000)) === 9,
      90_000,
    );
    const recoveryMs = Date.now() - downAt;
    console.error(`[faults] sink resumed ${recoveryMs} ms after the broker restart began`);
    assert.ok(sink.subscriptions >= 2, 'the sink re-subscribed');
    assert.equal((await health(sink)).status, 200);
    await waitFor('/readyz', async () => (await fetch(`http://127.0.0.1:${sink.opsPort}/readyz`)).ok);
  });

  it('fails /healthz while it has lag and cannot advance, and passes again once it does', async () => {
    const { sink } = await start({ stallTimeoutMs: 1_000 });
    // An erasure holds the erasure lock exclusively: the sink's visit batch waits on it, unwritten.
    await admin.query('BEGIN');
    await admin.query('SELECT pg_advisory_xact_lock($1)', [ERASURE_LOCK_KEY]);
    await produce(
      broker.bootstrap,
      topic,
      [visitRecord({ deviceId: 'stuck', cell, startMs: b0, endMs: b0 + 600_000 })],
      { partitions: 3 },
    );
    const sick = await waitFor(
      '/healthz to fail',
      async () => {
        const h = await health(sink);
        return h.status === 503 && h;
      },
      60_000,
    );
    assert.match(JSON.stringify(sick.body.checks.consumer), /"reason":"stalled"/);
    await admin.query('COMMIT');
    await waitFor('/healthz to pass again', async () => (await health(sink)).status === 200, 60_000);
  });

  it('retries a batch whose connection is terminated mid-transaction and stays up', async () => {
    const { sink, lines } = await start();
    await admin.query('BEGIN');
    await admin.query('SELECT pg_advisory_xact_lock($1)', [ERASURE_LOCK_KEY]);
    await produce(
      broker.bootstrap,
      topic,
      [visitRecord({ deviceId: 'terminated', cell, startMs: b0, endMs: b0 + 600_000 })],
      { partitions: 3 },
    );
    const blocked = await waitFor(
      'the sink batch to wait on the erasure lock',
      async () => {
        const { rows } = await admin.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = 'footfall-sink' AND datname = current_database()
              AND wait_event_type = 'Lock'`,
        );
        return rows.length > 0 && rows;
      },
      60_000,
    );
    for (const { pid } of blocked) await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await waitFor('the failed attempt to be logged', () =>
      lines.some((l) => /SINK_DB_WRITE_FAILED/.test(l.msg)),
    );
    await admin.query('COMMIT');
    await waitFor('the batch written on a retry', async () => {
      const { rowCount } = await admin.query(`SELECT 1 FROM visits WHERE device_id = 'terminated'`);
      return rowCount === 1;
    });
    assert.equal((await health(sink)).status, 200);
  });
});
