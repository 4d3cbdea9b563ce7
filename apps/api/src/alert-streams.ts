import type { ServerResponse } from 'node:http';
import { getSubscription, listEvents } from '@footfall/alerts';
import type { Database } from '@footfall/db';

type StreamLogger = { debug(obj: object, msg: string): void };

/** Events sent per poll at most (a client far behind catches up over several polls). */
const PAGE = 100;

/**
 * The per-subscription alert streams (SSE). Each stream polls the subscription's outbox rows after its
 * cursor (`seq`, sent as the SSE `id`, so a reconnecting client resumes with `Last-Event-ID`). Alerts are
 * rare and the query is an index range scan, so a poll per stream is cheap; payloads were k-anonymised
 * when they were written, so what the stream sends is what the webhook gets.
 */
export class AlertStreams {
  readonly #db: Database;
  readonly #logger: StreamLogger;
  readonly #intervalMs: number;
  readonly #streams = new Set<{ res: ServerResponse; timer: NodeJS.Timeout }>();

  constructor(options: { db: Database; logger: StreamLogger; intervalMs: number }) {
    this.#db = options.db;
    this.#logger = options.logger;
    this.#intervalMs = options.intervalMs;
  }

  get size(): number {
    return this.#streams.size;
  }

  add(res: ServerResponse, subscriptionId: string, afterSeq: number): void {
    let cursor = afterSeq;
    let polling = false;
    const poll = async () => {
      if (polling || res.destroyed) return;
      polling = true;
      try {
        const events = await listEvents(this.#db, subscriptionId, { afterSeq: cursor, limit: PAGE });
        for (const e of events) {
          if (res.writableNeedDrain || res.destroyed) break;
          res.write(`id: ${e.seq}\nevent: alert\ndata: ${JSON.stringify(e.payload)}\n\n`);
          cursor = e.seq;
        }
        if (events.length === 0 && !(await getSubscription(this.#db, subscriptionId))) {
          res.write('event: deleted\ndata: {}\n\n');
          res.end();
        }
      } catch (error) {
        // The next poll retries from the same cursor; nothing is skipped.
        this.#logger.debug({ err: error }, 'alert stream poll failed');
      } finally {
        polling = false;
      }
    };
    const stream = { res, timer: setInterval(() => void poll(), this.#intervalMs) };
    this.#streams.add(stream);
    res.on('close', () => {
      clearInterval(stream.timer);
      this.#streams.delete(stream);
    });
    void poll();
  }

  /** Ends every stream (shutdown): clients reconnect elsewhere with Last-Event-ID. */
  close(): void {
    for (const s of this.#streams) {
      clearInterval(s.timer);
      s.res.end();
    }
    this.#streams.clear();
  }
}
