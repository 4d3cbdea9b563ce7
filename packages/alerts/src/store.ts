// SQL over the alert tables (packages/db/migrations/004.do.alerts.sql) that the API and apps/alerts
// share: subscriptions and the event outbox as the API shows them.

import type { Database } from '@footfall/db';
import type { AlertKind } from './rules.ts';

type Q = Pick<Database, 'query'>;

export interface Subscription {
  id: string;
  kind: AlertKind;
  /** The target: exactly one of an H3 cell and a place id (migration 007). */
  cell: string | null;
  placeId: string | null;
  /** The cell's or the place's region. */
  region: string;
  threshold: number;
  hysteresis: number;
  webhookUrl: string | null;
  createdAtMs: number;
  /** Side of the rule last seen: true = condition holds; null = not evaluated yet. */
  condition: boolean | null;
  fired: number;
}

export type Delivery = 'none' | 'pending' | 'delivered' | 'dead';

export interface AlertEvent {
  seq: number;
  id: string;
  subscriptionId: string;
  payload: AlertPayload;
  sourceAtMs: number;
  createdAtMs: number;
  delivery: Delivery;
  attempts: number;
  nextAttemptAtMs: number | null;
  lastError: string | null;
  deliveredAtMs: number | null;
}

/** What a receiver gets (webhook body, SSE data): every count k-anonymised (docs/alerts.md). */
export interface AlertPayload {
  type: 'alert.fired';
  id: string;
  subscriptionId: string;
  kind: AlertKind;
  /** The subscription's target: one of the two is null. */
  cell: string | null;
  placeId: string | null;
  region: string;
  threshold: number;
  hysteresis: number;
  /** The cell's (the place's distinct) count at the evaluation; null when below K_ANONYMITY (as everywhere else). */
  devices: number | null;
  /** Rank among the region's publishable cells; null = not ranked. */
  rank: number | null;
  /** Newest bucket of the region at the evaluation. */
  bucketStartMs: number;
  /** Timestamp of the `aggregated` record that caused the alert. */
  sourceAtMs: number;
  firedAtMs: number;
}

const MS = (col: string) => `(extract(epoch FROM ${col}) * 1000)::bigint`;

/** The columns of a `Subscription` (apps/alerts reads them too). */
export const SUB_COLUMNS = `id::text AS id, kind, cell, place_id AS "placeId", region, threshold, hysteresis, webhook_url AS "webhookUrl",
  ${MS('created_at')} AS "createdAtMs", condition, fired`;

const EVENT_COLUMNS = `seq, id, subscription_id::text AS "subscriptionId", payload, ${MS('source_at')} AS "sourceAtMs",
  ${MS('created_at')} AS "createdAtMs", delivery, attempts, ${MS('next_attempt_at')} AS "nextAttemptAtMs",
  last_error AS "lastError", ${MS('delivered_at')} AS "deliveredAtMs"`;

export interface NewSubscription {
  kind: AlertKind;
  /** Exactly one of cell and placeId (the table's CHECK). */
  cell: string | null;
  placeId: string | null;
  region: string;
  threshold: number;
  hysteresis: number;
  webhookUrl: string | null;
  webhookSecret: string | null;
}

export async function insertSubscription(db: Q, s: NewSubscription): Promise<Subscription> {
  const { rows } = await db.query<Subscription>(
    `INSERT INTO alert_subscriptions (kind, cell, place_id, region, threshold, hysteresis, webhook_url, webhook_secret)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${SUB_COLUMNS}`,
    [s.kind, s.cell, s.placeId, s.region, s.threshold, s.hysteresis, s.webhookUrl, s.webhookSecret],
  );
  return rows[0] as Subscription;
}

export async function getSubscription(db: Q, id: string): Promise<Subscription | undefined> {
  const { rows } = await db.query<Subscription>(
    `SELECT ${SUB_COLUMNS} FROM alert_subscriptions WHERE id = $1::uuid`,
    [id],
  );
  return rows[0];
}

/** Subscriptions in creation order, `limit` after `afterId` (keyset paging). */
export async function listSubscriptions(db: Q, limit: number, afterId?: string): Promise<Subscription[]> {
  const { rows } = await db.query<Subscription>(
    `SELECT ${SUB_COLUMNS} FROM alert_subscriptions
      WHERE $1::uuid IS NULL OR id > $1::uuid ORDER BY id LIMIT $2`,
    [afterId ?? null, limit],
  );
  return rows;
}

/** Deletes a subscription and (cascade) its events, pending deliveries included. */
export async function deleteSubscription(db: Q, id: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM alert_subscriptions WHERE id = $1::uuid', [id]);
  return rowCount > 0;
}

/** A subscription's events after `afterSeq`, oldest first; optionally only one delivery state. */
export async function listEvents(
  db: Q,
  subscriptionId: string,
  options: { afterSeq?: number; limit: number; delivery?: Delivery },
): Promise<AlertEvent[]> {
  const { rows } = await db.query<AlertEvent>(
    `SELECT ${EVENT_COLUMNS} FROM alert_events
      WHERE subscription_id = $1::uuid AND seq > $2 AND ($3::text IS NULL OR delivery = $3)
      ORDER BY seq LIMIT $4`,
    [subscriptionId, options.afterSeq ?? 0, options.delivery ?? null, options.limit],
  );
  return rows;
}

/** Puts a dead-lettered event back into delivery (attempts reset). False when it is not dead. */
export async function redeliverEvent(db: Q, subscriptionId: string, eventId: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE alert_events SET delivery = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL
      WHERE subscription_id = $1::uuid AND id = $2 AND delivery = 'dead'`,
    [subscriptionId, eventId],
  );
  return rowCount > 0;
}
