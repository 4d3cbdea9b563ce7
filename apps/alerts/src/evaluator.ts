// One batch of `aggregated` records → alert state, fired alerts and consumer offsets, in ONE
// PostgreSQL transaction. The offsets stored there are the truth: a record at or past them was already
// evaluated (a crash between this commit and the Kafka offset commit re-reads it, and it is skipped),
// so a restart neither loses nor repeats an alert.

import {
  type AlertPayload,
  applyCount,
  type CellCounts,
  currentCount,
  rankCells,
  SUB_COLUMNS,
  type Subscription,
  step,
} from '@footfall/alerts';
import { AggregateRecord, parseAggregatedKey } from '@footfall/contracts';
import type { Database } from '@footfall/db';
import { kAnonymize } from '@footfall/domain';

type Tx = Pick<Database, 'query'>;

/** The part of a Kafka message the evaluator reads. */
export interface EvalRecord {
  partition: number;
  offset: bigint;
  timestamp: bigint;
  key: Buffer | null | undefined;
  value: Buffer | null | undefined;
}

export interface EvalOptions {
  groupId: string;
  topic: string;
  kAnonymity: number;
  bucketMs: number;
}

export interface EvalResult {
  /** Alerts written to the outbox by this batch. */
  fired: AlertPayload[];
  /** Of them, how many wait for a webhook delivery. */
  webhooks: number;
  outcomes: { evaluated: number; untracked: number; replayed: number; invalid: number };
}

interface Update {
  /** What the count is of: a cell (`occ:` records) or a named place (`place:` records). */
  target: 'cell' | 'place';
  /** The cell, or the place id. */
  cell: string;
  region: string;
  bucketStartMs: number;
  devices: number;
  timestampMs: number;
}

type Counts = CellCounts & { region: string };

/** Parses the occupancy updates of a batch, cells' and places'; anything else (visits, live) is not ours. */
function occupancyUpdates(records: readonly EvalRecord[]): { updates: Update[]; invalid: number } {
  const updates: Update[] = [];
  let invalid = 0;
  for (const r of records) {
    const key = parseAggregatedKey(r.key?.toString() ?? '');
    if (!key) {
      invalid++;
      continue;
    }
    if ((key.kind !== 'occ' && key.kind !== 'place') || !r.value?.length) continue;
    try {
      const decoded = AggregateRecord.decode(r.value);
      // A place's count is its exact distinct devices (a device in two of its cells counts once), not
      // the sum of its cells' counts: the processor computes it (docs/places.md).
      const devices = key.kind === 'occ' ? decoded.occupancy?.devices : decoded.placeOccupancy?.devices;
      if (devices === undefined) continue;
      updates.push({
        target: key.kind === 'occ' ? 'cell' : 'place',
        cell: key.kind === 'occ' ? key.cell : key.placeId,
        region: decoded.region,
        bucketStartMs: key.bucketStartMs,
        devices,
        timestampMs: Number(r.timestamp),
      });
    } catch {
      invalid++;
    }
  }
  return { updates, invalid };
}

/** Evaluates `records` (one consumer batch, offset order per partition) in one transaction. */
export async function evaluateBatch(
  db: Database,
  records: readonly EvalRecord[],
  o: EvalOptions,
): Promise<EvalResult> {
  return db.transaction(async (tx) => {
    const partitions = [...new Set(records.map((r) => r.partition))].sort((a, b) => a - b);
    // Serialise with another member that briefly owns the same partition during a rebalance.
    // (One statement for all partitions, in a fixed order: round trips are the cost under load.)
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1), p) FROM unnest($2::int[]) AS p ORDER BY p', [
      `alerts:${o.groupId}:${o.topic}`,
      partitions,
    ]);
    const { rows: stored } = await tx.query<{ partition: number; next: number }>(
      `SELECT partition, next_offset AS next FROM alert_offsets
        WHERE group_id = $1 AND topic = $2 AND partition = ANY($3::int[])`,
      [o.groupId, o.topic, partitions],
    );
    const nextOf = new Map(stored.map((s) => [s.partition, BigInt(s.next)]));
    const fresh = records.filter((r) => r.offset >= (nextOf.get(r.partition) ?? 0n));
    const replayed = records.length - fresh.length;

    const { updates, invalid } = occupancyUpdates(fresh);
    const regions = [...new Set(updates.map((u) => u.region))];
    const subs = regions.length
      ? (
          await tx.query<Subscription>(
            `SELECT ${SUB_COLUMNS} FROM alert_subscriptions WHERE region = ANY($1::text[]) ORDER BY id FOR UPDATE`,
            [regions],
          )
        ).rows
      : [];
    const tracked = new Set(subs.map((s) => s.region));
    const mine = updates.filter((u) => tracked.has(u.region));
    const result: EvalResult = {
      fired: [],
      webhooks: 0,
      outcomes: {
        evaluated: mine.length,
        untracked: fresh.length - mine.length - invalid,
        replayed,
        invalid,
      },
    };

    if (mine.length) {
      const countsOf = {
        cell: await loadCounts(tx, 'cell', [...tracked]),
        place: await loadCounts(tx, 'place', [...tracked]),
      };
      const changed = { cell: new Map<string, Counts>(), place: new Map<string, Counts>() };
      /** Latest record timestamp per region, cell and place: the "pipeline update" an alert comes from. */
      const seenAt = new Map<string, number>();
      for (const u of mine) {
        const counts = countsOf[u.target];
        const next = {
          ...applyCount(counts.get(u.cell), u.cell, u.bucketStartMs, u.devices),
          region: u.region,
        };
        counts.set(u.cell, next);
        changed[u.target].set(u.cell, next);
        for (const k of [`${u.target}:${u.cell}`, u.region])
          seenAt.set(k, Math.max(seenAt.get(k) ?? 0, u.timestampMs));
      }
      await saveCounts(tx, 'cell', [...changed.cell.values()]);
      await saveCounts(tx, 'place', [...changed.place.values()]);

      const firedAtMs = Date.now();
      const states: { id: string; state: boolean | null; fired: number }[] = [];
      const events: { payload: AlertPayload; webhook: boolean }[] = [];
      for (const region of tracked) {
        const cells = [...countsOf.cell.values()].filter((c) => c.region === region);
        const places = [...countsOf.place.values()].filter((c) => c.region === region);
        // The region's newest bucket, over its cells and places alike (the processor emits both for a
        // bucket; either may be the first to arrive).
        const latestMs = Math.max(
          ...cells.map((c) => c.bucketStartMs),
          ...places.map((c) => c.bucketStartMs),
        );
        const now = new Map(cells.map((c) => [c.cell, currentCount(c, latestMs, o.bucketMs)]));
        const placeNow = new Map(places.map((c) => [c.cell, currentCount(c, latestMs, o.bucketMs)]));
        const ranks = rankCells(now, o.kAnonymity);
        // A place's rank is among its region's places (places overlap cells, so they are ranked apart).
        const placeRanks = rankCells(placeNow, o.kAnonymity);
        for (const sub of subs.filter((s) => s.region === region)) {
          const target = sub.placeId !== null ? `place:${sub.placeId}` : `cell:${sub.cell}`;
          const id = sub.placeId ?? sub.cell ?? '';
          const devices = (sub.placeId !== null ? placeNow : now).get(id) ?? 0;
          const rank = (sub.placeId !== null ? placeRanks : ranks).get(id) ?? null;
          const next = step(sub, sub.condition, { devices, rank });
          if (next.state === sub.condition && !next.fired) continue;
          const n = sub.fired + (next.fired ? 1 : 0);
          states.push({ id: sub.id, state: next.state, fired: n });
          if (!next.fired) continue;
          const sourceAtMs = seenAt.get(target) ?? seenAt.get(region) ?? firedAtMs;
          const payload: AlertPayload = {
            type: 'alert.fired',
            // Deterministic: the n-th alert of a subscription has one id whoever writes it.
            id: `alrt_${sub.id.replaceAll('-', '')}_${n}`,
            subscriptionId: sub.id,
            kind: sub.kind,
            cell: sub.cell,
            placeId: sub.placeId,
            region,
            threshold: sub.threshold,
            hysteresis: sub.hysteresis,
            // The k-anonymity gate, as on every other channel: below K reads like nobody.
            devices: kAnonymize(devices, o.kAnonymity),
            rank,
            bucketStartMs: latestMs,
            sourceAtMs,
            firedAtMs,
          };
          const webhook = sub.webhookUrl !== null;
          events.push({ payload, webhook });
          result.fired.push(payload);
          if (webhook) result.webhooks++;
        }
      }
      await saveStates(tx, states);
      await saveEvents(tx, events);
    }

    // Every record of the batch counts as evaluated, ours or not: the next offset per partition.
    const last = new Map<number, bigint>();
    for (const r of fresh) {
      const seen = last.get(r.partition);
      if (seen === undefined || r.offset > seen) last.set(r.partition, r.offset);
    }
    if (last.size) {
      await tx.query(
        `INSERT INTO alert_offsets (group_id, topic, partition, next_offset)
         SELECT $1, $2, p, n FROM unnest($3::int[], $4::bigint[]) AS t(p, n)
         ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = GREATEST(alert_offsets.next_offset, EXCLUDED.next_offset)`,
        [o.groupId, o.topic, [...last.keys()], [...last.values()].map((v) => String(v + 1n))],
      );
    }
    return result;
  });
}

/** The tables of the two targets' counts (migrations 004 and 007), and their key column. */
const COUNT_TABLES = {
  cell: { table: 'alert_cell_counts', key: 'cell' },
  place: { table: 'alert_place_counts', key: 'place_id' },
} as const;

async function loadCounts(tx: Tx, target: 'cell' | 'place', regions: string[]): Promise<Map<string, Counts>> {
  const { table, key } = COUNT_TABLES[target];
  const { rows } = await tx.query<Counts>(
    `SELECT ${key} AS cell, region, bucket_start_ms AS "bucketStartMs", devices,
            prev_bucket_start_ms AS "prevBucketStartMs", prev_devices AS "prevDevices"
       FROM ${table} WHERE region = ANY($1::text[])`,
    [regions],
  );
  return new Map(rows.map((r) => [r.cell, r]));
}

async function saveCounts(tx: Tx, target: 'cell' | 'place', rows: readonly Counts[]): Promise<void> {
  if (!rows.length) return;
  const { table, key } = COUNT_TABLES[target];
  await tx.query(
    `INSERT INTO ${table} (${key}, region, bucket_start_ms, devices, prev_bucket_start_ms, prev_devices)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::int[], $5::bigint[], $6::int[])
     ON CONFLICT (${key}) DO UPDATE SET region = EXCLUDED.region, bucket_start_ms = EXCLUDED.bucket_start_ms,
       devices = EXCLUDED.devices, prev_bucket_start_ms = EXCLUDED.prev_bucket_start_ms,
       prev_devices = EXCLUDED.prev_devices`,
    [
      rows.map((r) => r.cell),
      rows.map((r) => r.region),
      rows.map((r) => r.bucketStartMs),
      rows.map((r) => r.devices),
      rows.map((r) => r.prevBucketStartMs),
      rows.map((r) => r.prevDevices),
    ],
  );
}

async function saveStates(tx: Tx, rows: readonly { id: string; state: boolean | null; fired: number }[]) {
  if (!rows.length) return;
  await tx.query(
    `UPDATE alert_subscriptions s SET condition = t.state, evaluated_at = now(), fired = t.fired
       FROM unnest($1::uuid[], $2::bool[], $3::int[]) AS t(id, state, fired) WHERE s.id = t.id`,
    [rows.map((r) => r.id), rows.map((r) => r.state), rows.map((r) => r.fired)],
  );
}

/** Inserts fired alerts into the outbox; an id already there (it cannot be, but) is left alone. */
async function saveEvents(tx: Tx, rows: readonly { payload: AlertPayload; webhook: boolean }[]) {
  if (!rows.length) return;
  await tx.query(
    `INSERT INTO alert_events (id, subscription_id, payload, source_at, delivery, next_attempt_at)
     SELECT t.id, t.sub, t.payload, timestamptz 'epoch' + t.source * interval '1 millisecond', t.delivery,
            CASE WHEN t.delivery = 'pending' THEN now() END
       FROM unnest($1::text[], $2::uuid[], $3::jsonb[], $4::bigint[], $5::text[])
            AS t(id, sub, payload, source, delivery)
     ORDER BY t.id
     ON CONFLICT (id) DO NOTHING`,
    [
      rows.map((r) => r.payload.id),
      rows.map((r) => r.payload.subscriptionId),
      rows.map((r) => JSON.stringify(r.payload)),
      rows.map((r) => r.payload.sourceAtMs),
      rows.map((r) => (r.webhook ? 'pending' : 'none')),
    ],
  );
}
