// The live stream (/v1/live) against the real PostgreSQL: privacy (it publishes exactly what REST would
// answer), the hub's survival of every client lifecycle, and the small protocol defects.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { type Database, openDatabase, type QueryOptions } from '@footfall/db';
import { bucketStart, cellOf, regionOf } from '@footfall/domain';
import { createTemporaryDatabase, type TemporaryDatabase, waitFor } from '@footfall/testing';
import { cellToLatLng, gridDisk } from 'h3-js';
import { pino } from 'pino';
import { type Api, LIVE_SQL, type LiveChange, LiveHub, loadApiConfig, startApi } from '../src/index.ts';
import { openSse, type SseEvent } from './sse.ts';

const MIN = 60_000;
type Occ = { devices: number | null; suppressed: boolean };
const logger = pino({ level: 'silent' });

/** A Database whose live-hub queries a test can hold back or fail once (the race seam). */
function withSeam(db: Database) {
  let hold:
    | { sql: string; entered: PromiseWithResolvers<void>; release: PromiseWithResolvers<void> }
    | undefined;
  let fail: string | undefined;
  const wrapped: Database = {
    kind: db.kind,
    query: async <R>(sql: string, params?: readonly unknown[], options?: QueryOptions) => {
      if (hold && sql === hold.sql) {
        const h = hold;
        hold = undefined;
        h.entered.resolve();
        await h.release.promise;
      }
      if (fail === sql) {
        fail = undefined;
        throw new Error('injected failure');
      }
      return db.query<R>(sql, params, options);
    },
    transaction: (fn) => db.transaction(fn),
    close: async () => {},
    [Symbol.asyncDispose]: async () => {},
  };
  return {
    db: wrapped,
    /** The next query with this SQL waits until `release()`; `entered` resolves when it is waiting. */
    hold(sql: string) {
      const h = { sql, entered: Promise.withResolvers<void>(), release: Promise.withResolvers<void>() };
      hold = h;
      return { entered: h.entered.promise, release: () => h.release.resolve() };
    },
    failOnce(sql: string) {
      fail = sql;
    },
  };
}

/** Upserts an occupancy row the way the sink does (updated_at = now() of its own transaction). */
async function put(
  db: Pick<Database, 'query'>,
  cell: string,
  bucketStartMs: number,
  devices: number,
): Promise<void> {
  const [lat, lon] = cellToLatLng(cell);
  await db.query(
    `INSERT INTO occupancy (cell, bucket_start, bucket_ms, region, lat, lon, devices, pings)
     VALUES ($1, timestamptz 'epoch' + $2::bigint * interval '1 millisecond', 60000, $3, $4, $5, $6, $6)
     ON CONFLICT (cell, bucket_start) DO UPDATE SET devices = EXCLUDED.devices, updated_at = now()`,
    [cell, bucketStartMs, regionOf(cell), lat, lon, devices],
  );
}

const changesOf = (events: SseEvent[]) =>
  events.filter((e) => e.event === 'occupancy').flatMap((e) => e.data.changes as LiveChange[]);

describe('live stream on real PostgreSQL', () => {
  let tmp: TemporaryDatabase;
  let raw: Database;
  let seam: ReturnType<typeof withSeam>;
  let api: Api;

  before(async () => {
    tmp = await createTemporaryDatabase();
    raw = await openDatabase({ url: tmp.url });
    const day = 86_400_000;
    const from = new Date(bucketStart(Date.now(), day) - day).toISOString();
    const to = new Date(bucketStart(Date.now(), day) + 2 * day).toISOString();
    await raw.query(
      `CREATE TABLE occupancy_plive PARTITION OF occupancy FOR VALUES FROM ('${from}') TO ('${to}')`,
    );
    seam = withSeam(raw);
    api = await startApi(
      loadApiConfig({}, { port: 0, host: '127.0.0.1', liveIntervalMs: 100, logLevel: 'silent' }),
      { db: seam.db, logger },
    );
  });

  after(async () => {
    await api?.close();
    await raw?.close();
    await tmp?.drop();
  });

  it('a lone walker leaves no trace; a cell crossing K appears, and falling back looks like an empty cell', async () => {
    const stream = await openSse(`${api.url}/v1/live?k=100`);
    try {
      await waitFor('first tick', () => stream.events.some((e) => e.event === 'popular'));
      const now = bucketStart(Date.now(), MIN);
      // One device walking north, one cell per minute: each row has devices = 1.
      const walk = Array.from({ length: 10 }, (_, i) => cellOf(52.52 + i * 0.003, 13.405));
      assert.equal(new Set(walk).size, walk.length);
      for (const [i, cell] of walk.entries()) await put(raw, cell, now - (walk.length - 1 - i) * MIN, 1);
      const square = cellOf(48.8566, 2.3522);
      await put(raw, square, now, 3); // below K: invisible
      await put(raw, square, now, 6); // crosses K: published
      await waitFor('square published', () => changesOf(stream.events).some((c) => c.cell === square));
      await put(raw, square, now, 2); // falls back below K
      await waitFor(
        'square withdrawn',
        () => changesOf(stream.events).filter((c) => c.cell === square).length >= 2,
      );
      // A marker after everything else: once it is seen, every earlier row has been through a tick.
      const marker = cellOf(40.4168, -3.7038);
      await put(raw, marker, now, 9);
      await waitFor('marker', () => changesOf(stream.events).some((c) => c.cell === marker));

      for (const cell of walk) assert.ok(!stream.raw().includes(cell), `walker cell ${cell} leaked`);
      // The current bucket is provisional until its end + NOWCAST_HORIZON_MS (default 15 min).
      const provisional = { state: 'provisional', finalAtMs: now + MIN + 900_000 };
      assert.deepEqual(
        changesOf(stream.events).filter((c) => c.cell === square),
        [
          { cell: square, bucketStartMs: now, devices: 6, suppressed: false, ...provisional },
          // Exactly what GET /v1/occupancy answers for an empty cell (no count, no hint of 1..K-1).
          { cell: square, bucketStartMs: now, devices: null, suppressed: true, ...provisional },
        ],
      );
      const rest = (await (await fetch(`${api.url}/v1/occupancy?cell=${square}&at=${now}`)).json()) as Occ;
      const emptyUrl = `${api.url}/v1/occupancy?cell=${walk[0]}&at=${now + 30 * MIN}`;
      const empty = (await (await fetch(emptyUrl)).json()) as Occ;
      assert.deepEqual([rest.devices, rest.suppressed], [null, true]);
      assert.deepEqual([empty.devices, empty.suppressed], [null, true]);
    } finally {
      await stream.close();
      await waitFor('no clients', () => api.live.clients === 0);
    }
  });

  it('withdraws every shown cell of a large batch that falls below K, in both buckets', async () => {
    const stream = await openSse(`${api.url}/v1/live`);
    try {
      await waitFor('first tick', () => stream.events.some((e) => e.event === 'popular'));
      const now = bucketStart(Date.now(), MIN);
      const ring = gridDisk(cellOf(45.4642, 9.19), 4);
      const all = ring.flatMap((cell) => [now, now + MIN].map((b) => ({ cell, b })));
      const putAll = (devices: number) =>
        raw.transaction(async (tx) => {
          for (const { cell, b } of all) await put(tx, cell, b, devices);
        });
      const seen = (devices: number | null) => () => {
        const got = new Set(
          changesOf(stream.events)
            .filter((c) => c.devices === devices)
            .map((c) => `${c.cell}:${c.bucketStartMs}`),
        );
        return all.every(({ cell, b }) => got.has(`${cell}:${b}`));
      };
      await putAll(6);
      await waitFor('all shown', seen(6));
      await putAll(2);
      await waitFor('all withdrawn', seen(null));
    } finally {
      await stream.close();
      await waitFor('no clients', () => api.live.clients === 0);
    }
  });

  it('survives the last client leaving while a tick query is in flight (cursor race)', async () => {
    const held = seam.hold(LIVE_SQL.changes);
    const first = await openSse(`${api.url}/v1/live`);
    await held.entered; // the first tick is now inside its changes query
    await first.close();
    await waitFor('hub idle', () => api.live.clients === 0);
    held.release();
    const failedBefore = api.live.failedTicks;
    const second = await openSse(`${api.url}/v1/live`);
    try {
      await waitFor('second client ticking', () => second.events.some((e) => e.event === 'popular'));
      const cell = cellOf(41.9028, 12.4964);
      await put(raw, cell, bucketStart(Date.now(), MIN), 8);
      await waitFor('change after the race', () => changesOf(second.events).some((c) => c.cell === cell));
      assert.equal(api.live.failedTicks, failedBefore, 'no tick failed after the race');
    } finally {
      await second.close();
      await waitFor('no clients', () => api.live.clients === 0);
    }
  });

  it('a failed tick is logged, counted and retried; the feed goes on', async () => {
    const stream = await openSse(`${api.url}/v1/live`);
    try {
      await waitFor('ticking', () => stream.events.some((e) => e.event === 'popular'));
      const failed = api.live.failedTicks;
      seam.failOnce(LIVE_SQL.changes);
      const cell = cellOf(50.0755, 14.4378);
      await put(raw, cell, bucketStart(Date.now(), MIN), 11);
      await waitFor('change despite the failure', () =>
        changesOf(stream.events).some((c) => c.cell === cell),
      );
      assert.equal(api.live.failedTicks, failed + 1);
      const metrics = await (await fetch(`${api.url}/metrics`)).text();
      assert.match(metrics, /footfall_api_live_ticks_total\{[^}]*outcome="failed"[^}]*\} [1-9]/);
    } finally {
      await stream.close();
      await waitFor('no clients', () => api.live.clients === 0);
    }
  });

  it('a tick whose query hangs times out, is counted, and the feed goes on', async () => {
    const held = seam.hold(LIVE_SQL.changes);
    const stream = await openSse(`${api.url}/v1/live`);
    try {
      await held.entered; // this tick's query never answers until released
      const failed = api.live.failedTicks;
      await waitFor('tick timed out', () => api.live.failedTicks > failed, 20_000);
      const cell = cellOf(48.2082, 16.3738);
      await put(raw, cell, bucketStart(Date.now(), MIN), 7);
      await waitFor('change after the hung tick', () =>
        changesOf(stream.events).some((c) => c.cell === cell),
      );
    } finally {
      held.release(); // its late answer is void
      await stream.close();
      await waitFor('no clients', () => api.live.clients === 0);
    }
  });

  it('HEAD /v1/live answers the headers at once and does not register a client', async () => {
    const res = await fetch(`${api.url}/v1/live`, { method: 'HEAD', signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    assert.equal(api.live.clients, 0);
  });

  it("a new client's first popular event is of the current bucket, even after the hub was idle", async () => {
    // 1 s buckets so the bucket changes while the hub is idle, without a fake clock.
    const hub = new LiveHub({
      db: raw,
      logger,
      intervalMs: 50,
      bucketMs: 1_000,
      cellResolution: 10,
      kAnonymity: 5,
      maxChanges: 100,
    });
    const sink = () => {
      const res = new PassThrough();
      let text = '';
      res.on('data', (b: Buffer) => {
        text += b.toString();
      });
      const first = () => /"bucketStartMs":(\d+)/.exec(text)?.[1];
      return { res, first };
    };
    try {
      const a = sink();
      hub.add(a.res as never, 10);
      const firstBucket = Number(await waitFor('first popular', a.first));
      a.res.destroy();
      await waitFor('idle', () => hub.clients === 0);
      await waitFor('next bucket', () => bucketStart(Date.now(), 1_000) > firstBucket, 5_000, 20);
      const connectedAt = bucketStart(Date.now(), 1_000);
      const b = sink();
      hub.add(b.res as never, 10);
      assert.ok(Number(await waitFor('first popular of b', b.first)) >= connectedAt);
      b.res.destroy();
    } finally {
      hub.close();
    }
  });
});
