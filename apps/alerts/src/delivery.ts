// Webhook delivery from the `alert_events` outbox: at-least-once, with the event id as the
// idempotency key (`webhook-id`), exponential backoff in `next_attempt_at` (so a restart loses no
// pending delivery), a dead-letter state after ALERTS_WEBHOOK_MAX_ATTEMPTS failures, timeouts and
// bounded concurrency. A claimed row is leased (next_attempt_at pushed past the attempt's timeout):
// if this process dies mid-attempt, the row becomes due again and another attempt is made.

import http from 'node:http';
import https from 'node:https';
import {
  type AlertPayload,
  addressError,
  guardedLookup,
  hostOf,
  signWebhook,
  type TargetPolicy,
} from '@footfall/alerts';
import type { Database } from '@footfall/db';
import type { Logger } from '@footfall/observability';
import type { AlertsMetrics } from './metrics.ts';

export interface DispatcherOptions {
  db: Database;
  logger: Logger;
  metrics: AlertsMetrics;
  policy: TargetPolicy;
  timeoutMs: number;
  concurrency: number;
  maxAttempts: number;
  backoffMs: number;
  maxBackoffMs: number;
  pollMs: number;
}

interface Claimed {
  seq: number;
  id: string;
  payload: AlertPayload;
  attempts: number;
  sourceAtMs: number;
  url: string;
  secret: string;
}

/** Delay before attempt `attempt + 1` after `attempt` failures: doubling, capped, with ±25% jitter. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (0.75 + random() * 0.5));
}

const CLAIM = `
WITH due AS (
  SELECT seq FROM alert_events
   WHERE delivery = 'pending' AND next_attempt_at <= now()
   ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
UPDATE alert_events e SET next_attempt_at = now() + $2::int * interval '1 millisecond'
  FROM due, alert_subscriptions s
 WHERE e.seq = due.seq AND s.id = e.subscription_id
RETURNING e.seq, e.id, e.payload, e.attempts, (extract(epoch FROM e.source_at) * 1000)::bigint AS "sourceAtMs",
          s.webhook_url AS url, s.webhook_secret AS secret`;

export class WebhookDispatcher {
  readonly #o: DispatcherOptions;
  #closed = false;
  readonly #inFlight = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | undefined;
  #again = false;
  #failing = false;

  constructor(options: DispatcherOptions) {
    this.#o = options;
  }

  /** Starts the periodic outbox scan (due retries; rows left by a previous process). */
  start(): void {
    this.#timer = setInterval(() => this.kick(), this.#o.pollMs);
    this.kick();
  }

  /** Scans the outbox now (called right after an evaluation committed new alerts). */
  kick(): void {
    if (this.#closed) return;
    if (this.#scanning) {
      this.#again = true;
      return;
    }
    this.#scanning = this.#scan().finally(() => {
      this.#scanning = undefined;
      if (this.#again) {
        this.#again = false;
        this.kick();
      }
    });
  }

  async #scan(): Promise<void> {
    const o = this.#o;
    try {
      for (;;) {
        const free = o.concurrency - this.#inFlight.size;
        if (free <= 0 || this.#closed) return;
        const { rows } = await o.db.query<Claimed>(CLAIM, [free, o.timeoutMs + 5_000]);
        this.#failing = false;
        for (const row of rows) {
          const p = this.#attempt(row).finally(() => {
            this.#inFlight.delete(p);
            o.metrics.pending.set(this.#inFlight.size);
            // A slot freed: more due rows may be waiting.
            this.kick();
          });
          this.#inFlight.add(p);
        }
        o.metrics.pending.set(this.#inFlight.size);
        if (rows.length < free) return;
      }
    } catch (error) {
      o.metrics.errors.inc({ code: 'ALERTS_OUTBOX_FAILED' });
      if (!this.#failing) o.logger.warn({ err: error }, 'ALERTS_OUTBOX_FAILED: outbox scan failed; retrying');
      this.#failing = true;
    }
  }

  async #attempt(row: Claimed): Promise<void> {
    const o = this.#o;
    let failure: string | undefined;
    let code: 'ALERTS_WEBHOOK_FAILED' | 'ALERTS_WEBHOOK_TARGET_REFUSED' = 'ALERTS_WEBHOOK_FAILED';
    try {
      const status = await this.#post(row);
      if (status < 200 || status > 299) failure = `HTTP ${status}`;
    } catch (error) {
      const e = error as Error & { code?: string };
      if (e.code === 'EWEBHOOKTARGET') code = 'ALERTS_WEBHOOK_TARGET_REFUSED';
      failure =
        e.name === 'TimeoutError'
          ? `timed out after ${o.timeoutMs} ms`
          : (e.message || String(e)).slice(0, 500);
    }
    if (failure === undefined) {
      await o.db.query(
        `UPDATE alert_events SET delivery = 'delivered', delivered_at = now(), attempts = attempts + 1,
                next_attempt_at = NULL, last_error = NULL WHERE seq = $1 AND delivery = 'pending'`,
        [row.seq],
      );
      o.metrics.deliveries.inc({ outcome: 'delivered' });
      o.metrics.latency.observe(Math.max(0, Date.now() - row.sourceAtMs) / 1000);
      return;
    }
    const attempts = row.attempts + 1;
    const dead = attempts >= o.maxAttempts;
    await o.db.query(
      `UPDATE alert_events SET attempts = $2, last_error = $3, delivery = CASE WHEN $4 THEN 'dead' ELSE 'pending' END,
              next_attempt_at = CASE WHEN $4 THEN NULL ELSE now() + $5::int * interval '1 millisecond' END
        WHERE seq = $1 AND delivery = 'pending'`,
      [row.seq, attempts, failure, dead, backoffMs(attempts, o.backoffMs, o.maxBackoffMs)],
    );
    o.metrics.errors.inc({ code: dead ? 'ALERTS_WEBHOOK_DEAD' : code });
    o.metrics.deliveries.inc({ outcome: dead ? 'dead' : 'failed' });
    o.logger.warn({ event: row.id, attempts, dead, error: failure }, dead ? 'ALERTS_WEBHOOK_DEAD' : code);
  }

  /** One signed POST; resolves with the status code. No redirects are followed (a 3xx is a failure). */
  #post(row: Claimed): Promise<number> {
    const o = this.#o;
    const url = new URL(row.url);
    const literal = addressError(hostOf(url), o.policy);
    // Node skips `lookup` for an IP-literal host: check it here (a name is checked at connect time).
    if (literal && literal !== 'not an IP address') {
      return Promise.reject(
        Object.assign(new Error(`webhook target ${literal}`), { code: 'EWEBHOOKTARGET' }),
      );
    }
    const body = JSON.stringify(row.payload);
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'footfall-alerts/1',
      ...signWebhook(row.secret, row.id, body),
    };
    const signal = AbortSignal.timeout(o.timeoutMs);
    const client = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = client.request(
        url,
        { method: 'POST', headers, signal, lookup: guardedLookup(o.policy) as never, agent: false },
        (res) => {
          // The answer's body is not read, only drained (a receiver cannot make us buffer it).
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('error', (error) =>
        reject(signal.aborted && signal.reason instanceof Error ? signal.reason : error),
      );
      req.end(body);
    });
  }

  /**
   * Stops scanning and lets the attempts in flight finish (each is bounded by the timeout), so their
   * outcome is recorded; a process killed instead leaves them leased, and they are retried.
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#scanning;
    await Promise.allSettled([...this.#inFlight]);
  }
}
