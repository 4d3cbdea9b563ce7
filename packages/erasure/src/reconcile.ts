import type { ErasurePublisher } from './publisher.ts';
import type { Erasure } from './record.ts';
import type { ErasureView } from './table.ts';

/** The slice of a database client the sweep needs (`@footfall/db`'s Database satisfies it). */
export interface ErasureRecordSource {
  query<R>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/** Every erasure recorded in PostgreSQL (`erased_devices`), the system of record. */
export async function recordedErasures(db: ErasureRecordSource): Promise<Erasure[]> {
  const { rows } = await db.query<{ deviceId: string; erasedAtMs: string | number }>(
    `SELECT device_id AS "deviceId", (extract(epoch FROM erased_at) * 1000)::bigint AS "erasedAtMs"
       FROM erased_devices ORDER BY erased_at`,
  );
  return rows.map((r) => ({ deviceId: r.deviceId, erasedAtMs: Number(r.erasedAtMs) }));
}

/**
 * Publishes every erasure the database recorded but the log (`known`, a loaded ErasureTable) lacks, and
 * returns how many. This is the outbox sweep behind the API's publish-after-commit: if the API died
 * between the database commit and the broker's acknowledgement (the client then got no 200), the next
 * API start still revokes the device, even if the user never retries.
 */
export async function reconcileErasures(
  db: ErasureRecordSource,
  known: ErasureView,
  publisher: ErasurePublisher,
): Promise<number> {
  const missing = (await recordedErasures(db)).filter((e) => !known.has(e.deviceId));
  for (let i = 0; i < missing.length; i += 500) await publisher.publish(missing.slice(i, i + 500));
  return missing.length;
}
