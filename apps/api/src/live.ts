import type { ServerResponse } from 'node:http';
import type { Database } from '@footfall/db';
import type { CellCount } from '@footfall/domain';
import type { Logger } from '@footfall/observability';
import { Counter, Gauge, type Registry } from 'prom-client';
import { type NowcastLocation, nowcastTopK } from './live-edge.ts';
import { kAnonymityGate, type PublicCountGate } from './privacy/gate.ts';
import { dpLiveChanges } from './privacy/live-dp.ts';
import { MS, TS } from './sql-time.ts';

/** Lookback that re-reads rows whose transaction started before, but committed after, the last tick. */
const LOOKBACK_US = 5_000_000;
/** The live top-K is computed once per tick at this size; each client gets its own first k. */
export const LIVE_MAX_K = 100;
/**
 * How long a published (cell, bucket) is remembered so that a later drop below K can be announced:
 * buckets older than this no longer change (allowed lateness 1 h + presence gap, docs/insights.md).
 */
const PUBLISHED_HORIZON_MS = 2 * 3_600_000;
/** Upper bound on remembered published cells (oldest forgotten first); bounds memory on huge cities. */
const MAX_PUBLISHED = 200_000;

const US = (col: string) => `(extract(epoch FROM ${col}) * 1000000)::bigint`;
const TS_US = (p: string) => `(timestamptz 'epoch' + ${p}::bigint * interval '1 microsecond')`;

/** SQL of the hub's queries; exported so tests can hold one of them back (see live.test.ts). */
export const LIVE_SQL = {
  clock: `SELECT ${US('now()')} AS now`,
  /** Publishable rows (>= K) changed since the cursor, newest first. */
  changes: `SELECT cell, ${MS('bucket_start')} AS b, devices, ${US('updated_at')} AS u
      FROM occupancy
     WHERE updated_at > ${TS_US('$1')} AND devices >= $2
     ORDER BY updated_at DESC LIMIT $3`,
  /** Rows changed since the cursor that are now below K, in buckets where something was published. */
  drops: `SELECT cell, ${MS('bucket_start')} AS b, ${US('updated_at')} AS u
      FROM occupancy
     WHERE updated_at > ${TS_US('$1')} AND devices < $2 AND bucket_start >= ${TS('$3')}`,
} as const;

interface Client {
  res: ServerResponse;
  k: number;
}

/** One occupancy change as sent on the stream: exactly what `GET /v1/occupancy` would answer. */
export interface LiveChange {
  cell: string;
  bucketStartMs: number;
  devices: number | null;
  suppressed: boolean;
  /** provisional until finalAtMs (docs/insights.md, "Live edge"). */
  state: 'provisional' | 'final';
  finalAtMs: number;
}

export interface LiveOptions {
  db: Database;
  /** The public-count gate (privacy/gate.ts); default: k-anonymity with `kAnonymity`. */
  gate?: PublicCountGate;
  logger: Logger;
  /** Registry for the hub's metrics (`footfall_api_live_*`); none → not exported. */
  registry?: Registry;
  intervalMs: number;
  bucketMs: number;
  cellResolution: number;
  kAnonymity: number;
  maxChanges: number;
  /** Buckets are provisional until their end + this (NOWCAST_HORIZON_MS); default 15 min. */
  nowcastHorizonMs?: number;
}

/**
 * The state of one listening period (first client connects → last one leaves). A tick works on the
 * feed it started with; when every client leaves mid-tick the hub drops the feed, and the tick's late
 * writes land in an orphan instead of corrupting the next period's cursor.
 */
class Feed {
  /** DB clock (µs) of the last successful tick; rows changed after `cursorUs - LOOKBACK_US` are read. */
  cursorUs: number | undefined;
  /** key → updated_at (µs) of changes already sent, within the lookback window. */
  readonly sent = new Map<string, number>();
  /** key → bucket start (ms) of cells this feed published with a count (>= K), for drop notices. */
  readonly published = new Map<string, number>();
  /** dp mode: the last released bucket whose cells were sent (releases never change afterwards). */
  dpBucket: number | undefined;
}

/**
 * One poller shared by every SSE client: per tick, ONE top-K query for the current bucket and ONE
 * "occupancy rows changed since the last tick" query (index on `updated_at`), fanned out to all clients.
 * The cost is therefore independent of the number of clients; it runs only while someone listens.
 *
 * Privacy: the stream publishes exactly what REST would answer. A row below K_ANONYMITY is never sent
 * (REST answers it like an empty cell, and an empty cell has no change to send); a cell this feed
 * published that falls back below K is sent as `devices: null, suppressed: true` — what REST answers for
 * an empty cell too — so a drop to 3 and a drop to 0 look the same.
 */
export class LiveHub {
  readonly #o: LiveOptions;
  readonly #gate: PublicCountGate;
  readonly #clients = new Set<Client>();
  readonly #tickCount: Counter<'outcome'>;
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  #tickGen = 0;
  #feed: Feed | undefined;
  #failing = false;
  #lastPopular: { bucketStartMs: number; locations: CellCount[]; nowcast?: NowcastLocation[] } | undefined;
  /** Successful ticks since start (tests synchronise on it). */
  ticks = 0;
  /** Failed ticks since start. */
  failedTicks = 0;

  constructor(options: LiveOptions) {
    this.#o = options;
    this.#gate = options.gate ?? kAnonymityGate(options, options.db);
    const registers = options.registry ? [options.registry] : [];
    this.#tickCount = new Counter({
      name: 'footfall_api_live_ticks_total',
      help: 'live stream ticks by outcome (ok | failed); a failed tick is retried on the next one',
      labelNames: ['outcome'] as const,
      registers,
    });
    const clients = this.#clients;
    new Gauge({
      name: 'footfall_api_live_clients',
      help: 'connected live stream (SSE) clients',
      registers,
      collect() {
        this.set(clients.size);
      },
    });
  }

  get clients(): number {
    return this.#clients.size;
  }

  add(res: ServerResponse, k: number): void {
    const client = { res, k };
    this.#clients.add(client);
    res.on('close', () => {
      this.#clients.delete(client);
      if (this.#clients.size === 0) this.#stop();
    });
    // The last snapshot only if it is of the current bucket: after an idle period it is stale, and the
    // first tick (now, for a first client) sends a fresh one.
    const last = this.#lastPopular;
    if (last && last.bucketStartMs === this.#gate.liveBucket(Date.now())) {
      this.#send(client, 'popular', this.#popularFor(last, client));
    }
    this.#feed ??= new Feed();
    this.#timer ??= setInterval(() => void this.#tick(), this.#o.intervalMs);
    if (this.#clients.size === 1) void this.#tick();
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#feed = undefined;
    this.#lastPopular = undefined;
  }

  #popularFor(
    p: { bucketStartMs: number; locations: CellCount[]; nowcast?: NowcastLocation[] },
    client: Client,
  ) {
    const nowcast = (p.nowcast ?? []).slice(0, client.k);
    return {
      bucketStartMs: p.bucketStartMs,
      bucketMs: this.#o.bucketMs,
      locations: p.locations
        .slice(0, client.k)
        .map((l, i) => ({ rank: i + 1, cell: l.cell, devices: l.devices })),
      // The current bucket is always provisional: its nowcast ranking (same k-anonymity rule as REST).
      state: 'provisional' as const,
      finalAtMs: this.#finalAt(p.bucketStartMs),
      completeness: nowcast.length ? Math.min(...nowcast.map((l) => l.completeness)) : 0,
      nowcast,
    };
  }

  #finalAt(bucketStartMs: number): number {
    return bucketStartMs + this.#o.bucketMs + (this.#o.nowcastHorizonMs ?? 900_000);
  }

  #stateOf(bucketStartMs: number, nowMs: number): { state: 'provisional' | 'final'; finalAtMs: number } {
    const finalAtMs = this.#finalAt(bucketStartMs);
    return { state: nowMs < finalAtMs ? 'provisional' : 'final', finalAtMs };
  }

  #send(client: Client, event: string, data: unknown): void {
    // A slow client whose socket buffer is full misses ticks instead of growing our memory.
    if (client.res.writableNeedDrain || client.res.destroyed) return;
    client.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  async #tick(): Promise<void> {
    const feed = this.#feed;
    // One tick at a time; a tick still running when the interval fires is simply not doubled.
    if (this.#ticking || !feed) return;
    this.#ticking = true;
    const gen = ++this.#tickGen;
    const o = this.#o;
    // A query that hangs (a half-open connection) must not stall the feed: past the timeout the tick
    // counts as failed, its late results are void (generation), and the next tick starts afresh.
    const timeoutMs = Math.max(10 * o.intervalMs, 5_000);
    const timedOut = Promise.withResolvers<never>();
    const timer = setTimeout(() => {
      this.#tickGen++;
      timedOut.reject(new Error(`live tick timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    try {
      const work = this.#work(feed, gen);
      work.catch(() => {}); // after a timeout its own failure is nobody's business
      const { snapshot, changes } = await Promise.race([work, timedOut.promise]);
      // Every client left during the queries: this feed is gone, nobody to send to.
      if (feed !== this.#feed) return;
      this.#lastPopular = snapshot;
      this.ticks++;
      this.#tickCount.inc({ outcome: 'ok' });
      if (this.#failing) o.logger.info('live tick recovered');
      this.#failing = false;
      for (const client of this.#clients) {
        this.#send(client, 'popular', this.#popularFor(snapshot, client));
        if (changes.changes.length) this.#send(client, 'occupancy', changes);
      }
    } catch (error) {
      // The cursor only moves after a successful tick, so the next tick re-reads what this one missed.
      this.failedTicks++;
      this.#tickCount.inc({ outcome: 'failed' });
      // Once per failure streak at warn (an outage would otherwise log every tick).
      if (!this.#failing) o.logger.warn({ err: error }, 'live tick failed; retrying every tick');
      else o.logger.debug({ err: error }, 'live tick failed');
      this.#failing = true;
    } finally {
      clearTimeout(timer);
      this.#ticking = false;
    }
  }

  async #work(feed: Feed, gen: number) {
    const o = this.#o;
    // Through the gate, like REST: in dp mode the latest released bucket, in k-anonymity mode the current one.
    const bucketStartMs = this.#gate.liveBucket(Date.now());
    const locations = await this.#gate.topK('live', {
      bucketStartMs,
      k: LIVE_MAX_K,
      cellResolution: o.cellResolution,
      resolution: o.cellResolution,
    });
    const dp = this.#gate.mode === 'dp';
    // dp mode: no nowcast (an un-noised second release of the same counts; docs/privacy.md).
    const nowcast = dp ? [] : await nowcastTopK(o.db, bucketStartMs, LIVE_MAX_K, o.kAnonymity, Date.now());
    const changes = dp
      ? await dpLiveChanges(this.#gate, feed, bucketStartMs, o)
      : await this.#changes(feed, gen);
    if (gen !== this.#tickGen) throw new Error('stale live tick');
    if (dp) feed.dpBucket = bucketStartMs;
    return { snapshot: { bucketStartMs, locations, nowcast }, changes };
  }

  /** k-anonymity mode: rows changed since the cursor, >= K, and drops of cells shown before. */
  async #changes(feed: Feed, gen: number): Promise<{ changes: LiveChange[]; truncated: boolean }> {
    const o = this.#o;
    const { rows: clock } = await o.db.query<{ now: number }>(LIVE_SQL.clock);
    const nowUs = Number(clock[0]?.now);
    if (!Number.isSafeInteger(nowUs)) throw new Error(`database clock read failed (${clock[0]?.now})`);
    const sinceUs = (feed.cursorUs ?? nowUs) - LOOKBACK_US;
    // Newest first, so a flood keeps the latest changes and says it dropped the rest. `truncated` counts
    // publishable rows only: it must not tell how many cells below K changed either.
    const { rows } = await o.db.query<{ cell: string; b: number; devices: number; u: number }>(
      LIVE_SQL.changes,
      [sinceUs, this.#gate.kAnonymity, o.maxChanges],
    );
    let drops: { cell: string; b: number; u: number }[] = [];
    if (feed.published.size > 0) {
      let oldest = Number.POSITIVE_INFINITY;
      for (const b of feed.published.values()) oldest = Math.min(oldest, b);
      drops = (
        await o.db.query<{ cell: string; b: number; u: number }>(LIVE_SQL.drops, [
          sinceUs,
          this.#gate.kAnonymity,
          oldest,
        ])
      ).rows;
    }
    // A tick that timed out must not move the cursor or mark rows as sent: nobody will send its events.
    if (gen !== this.#tickGen) throw new Error('stale live tick');
    const events: (LiveChange & { u: number })[] = [];
    for (const r of rows) {
      const key = `${r.cell}:${r.b}`;
      if (feed.sent.get(key) === r.u) continue;
      feed.sent.set(key, r.u);
      feed.published.delete(key); // re-inserted last: the Map's order is oldest-published first
      feed.published.set(key, r.b);
      const st = this.#stateOf(r.b, nowUs / 1000);
      events.push({ cell: r.cell, bucketStartMs: r.b, devices: r.devices, suppressed: false, ...st, u: r.u });
    }
    for (const r of drops) {
      const key = `${r.cell}:${r.b}`;
      // Only cells this feed showed with a count: anything else below K stays invisible.
      if (!feed.published.has(key) || feed.sent.get(key) === r.u) continue;
      feed.sent.set(key, r.u);
      feed.published.delete(key);
      const st = this.#stateOf(r.b, nowUs / 1000);
      events.push({ cell: r.cell, bucketStartMs: r.b, devices: null, suppressed: true, ...st, u: r.u });
    }
    events.sort((a, b) => a.u - b.u);
    feed.cursorUs = nowUs;
    for (const [key, u] of feed.sent) if (u < nowUs - 2 * LOOKBACK_US) feed.sent.delete(key);
    const horizonMs = nowUs / 1000 - PUBLISHED_HORIZON_MS;
    for (const [key, b] of feed.published) {
      if (b < horizonMs || feed.published.size > MAX_PUBLISHED) feed.published.delete(key);
    }
    return {
      changes: events.map(({ u: _, ...change }) => change),
      truncated: rows.length === o.maxChanges,
    };
  }

  /** Ends every stream (server shutdown). */
  close(): void {
    this.#stop();
    for (const c of this.#clients) c.res.end();
    this.#clients.clear();
  }
}
