import type { ServerResponse } from 'node:http';
import type { Database } from '@footfall/db';
import { bucketStart, type CellCount, kAnonymize } from '@footfall/domain';
import type { Logger } from '@footfall/observability';
import { popular } from './queries.ts';

/** Lookback that re-reads rows whose transaction started before, but committed after, the last tick. */
const LOOKBACK_US = 5_000_000;
/** The live top-K is computed once per tick at this size; each client gets its own first k. */
export const LIVE_MAX_K = 100;

interface Client {
  res: ServerResponse;
  k: number;
}

export interface LiveOptions {
  db: Database;
  logger: Logger;
  intervalMs: number;
  bucketMs: number;
  cellResolution: number;
  kAnonymity: number;
  maxChanges: number;
}

/**
 * One poller shared by every SSE client: per tick, ONE top-K query for the current bucket and ONE
 * "occupancy rows changed since the last tick" query (index on `updated_at`), fanned out to all clients.
 * The cost is therefore independent of the number of clients; it runs only while someone listens.
 */
export class LiveHub {
  readonly #o: LiveOptions;
  readonly #clients = new Set<Client>();
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  #cursorUs: number | undefined;
  /** key → updated_at (µs) of changes already sent, within the lookback window. */
  #sent = new Map<string, number>();
  #lastPopular: { bucketStartMs: number; locations: CellCount[] } | undefined;
  ticks = 0;

  constructor(options: LiveOptions) {
    this.#o = options;
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
    if (this.#lastPopular) this.#send(client, 'popular', this.#popularFor(this.#lastPopular, client));
    this.#timer ??= setInterval(() => void this.#tick(), this.#o.intervalMs);
    if (this.#clients.size === 1) void this.#tick();
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#cursorUs = undefined;
    this.#sent.clear();
  }

  #popularFor(p: { bucketStartMs: number; locations: CellCount[] }, client: Client) {
    return {
      bucketStartMs: p.bucketStartMs,
      bucketMs: this.#o.bucketMs,
      locations: p.locations
        .slice(0, client.k)
        .map((l, i) => ({ rank: i + 1, cell: l.cell, devices: l.devices })),
    };
  }

  #send(client: Client, event: string, data: unknown): void {
    // A slow client whose socket buffer is full misses ticks instead of growing our memory.
    if (client.res.writableNeedDrain) return;
    client.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      const o = this.#o;
      const bucketStartMs = bucketStart(Date.now(), o.bucketMs);
      const locations = await popular(o.db, {
        bucketStartMs,
        k: LIVE_MAX_K,
        minDevices: o.kAnonymity,
        cellResolution: o.cellResolution,
        resolution: o.cellResolution,
      });
      const snapshot = { bucketStartMs, locations };
      this.#lastPopular = snapshot;
      const changes = await this.#changes();
      this.ticks++;
      for (const client of this.#clients) {
        this.#send(client, 'popular', this.#popularFor(snapshot, client));
        if (changes.changes.length) this.#send(client, 'occupancy', changes);
      }
    } catch (error) {
      this.#o.logger.warn({ err: error }, 'live tick failed');
    } finally {
      this.#ticking = false;
    }
  }

  async #changes() {
    const o = this.#o;
    if (this.#cursorUs === undefined) {
      const { rows } = await o.db.query<{ now: number }>(
        `SELECT (extract(epoch FROM now()) * 1000000)::bigint AS now`,
      );
      this.#cursorUs = rows[0]?.now ?? Date.now() * 1000;
    }
    // Newest first, so a flood keeps the latest changes and says it dropped the rest.
    const { rows } = await o.db.query<{ cell: string; b: number; devices: number; u: number }>(
      `SELECT cell, (extract(epoch FROM bucket_start) * 1000)::bigint AS b, devices,
              (extract(epoch FROM updated_at) * 1000000)::bigint AS u
         FROM occupancy
        WHERE updated_at > timestamptz 'epoch' + $1::bigint * interval '1 microsecond'
        ORDER BY updated_at DESC LIMIT $2`,
      [this.#cursorUs - LOOKBACK_US, o.maxChanges],
    );
    const fresh: { cell: string; bucketStartMs: number; devices: number | null; suppressed: boolean }[] = [];
    let maxU = this.#cursorUs;
    for (const r of rows.reverse()) {
      maxU = Math.max(maxU, r.u);
      const key = `${r.cell}:${r.b}`;
      if (this.#sent.get(key) === r.u) continue;
      this.#sent.set(key, r.u);
      const devices = kAnonymize(r.devices, o.kAnonymity);
      fresh.push({ cell: r.cell, bucketStartMs: r.b, devices, suppressed: devices === null });
    }
    this.#cursorUs = maxU;
    for (const [key, u] of this.#sent) if (u < maxU - LOOKBACK_US) this.#sent.delete(key);
    return { changes: fresh, truncated: rows.length === o.maxChanges };
  }

  /** Ends every stream (server shutdown). */
  close(): void {
    this.#stop();
    for (const c of this.#clients) c.res.end();
    this.#clients.clear();
  }
}
