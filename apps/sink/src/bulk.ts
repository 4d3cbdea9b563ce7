// What every bulk statement of the sink shares: bounded chunks of rows per statement, and the exact
// ms → timestamptz conversion.
import type { Database } from '@footfall/db';

/** A transaction (or the pool) as the writers use it. */
export type Tx = Pick<Database, 'query'>;

/** Rows per statement: keeps bind arrays (and the planner's work) bounded for very large batches. */
const CHUNK = 5_000;

export function chunks<T>(rows: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += CHUNK) out.push(rows.slice(i, i + CHUNK));
  return out;
}

// `'epoch' + ms * 1 ms` is exact (no float seconds round trip).
export const TS = (col: string) => `(timestamptz 'epoch' + ${col} * interval '1 millisecond')`;
